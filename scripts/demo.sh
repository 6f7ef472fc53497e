#!/usr/bin/env bash
# Install every dependency, build, and run the demo: boot the bundled demo
# guest on the default driver and show its console.
#
# Where /dev/kvm is usable, qv's default connection is kvm:///session: the
# bundled hello guest runs in its own qv-vmm, started by `qv vm start`
# (which returns once it runs), and `qv vm console` shows its console,
# replaying console.log when the guest has already finished. Elsewhere the
# kvm driver cannot run a guest, so the demo says so and boots the bundled
# Linux test guest (Debian's kernel, a busybox initramfs) the same way on
# qemu:///session under TCG. Either way it can be run again: the demo VM of
# an earlier run is removed first.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
[ -n "${QV_DEMO_NO_SETUP:-}" ] || bash scripts/setup.sh
[ -n "${QV_DEMO_NO_SETUP:-}" ] || bash scripts/build.sh "$top/build"

qv=$top/build/tools/qv/qv
export QV_VMM=$top/build/tools/qv-vmm/qv-vmm
unset QV_DEFAULT_URI
name=qv-demo
hello=$top/build/tests/guests/hello.elf
xml=$(mktemp)
trap 'rm -f "$xml"' EXIT
args=()
run() { echo "\$ qv ${args[*]} $*"; "$qv" "${args[@]}" "$@"; }

if "$qv" system info 2>/dev/null | grep -Eq '^KVM usable: +yes' && [ -r "$hello" ]; then
    echo "== /dev/kvm is usable: the hello guest on qv's default, kvm:///session"
    cat >"$xml" <<XML
<domain type='kvm'>
  <name>$name</name>
  <memory unit='MiB'>16</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type><kernel>$hello</kernel></os>
  <devices><serial type='pty'><target port='0'/></serial></devices>
</domain>
XML
else
    echo "== /dev/kvm is not usable here, so the default driver (kvm) cannot run a guest."
    echo "== Booting the bundled Linux test guest on qemu:///session under TCG instead"
    echo "== (Debian's kernel and a busybox initramfs; it powers itself off after 6 ticks)."
    guest=$(sh tests/fixtures/build-guest.sh)
    state=${QV_DEMO_STATE:-$top/build/demo-state}
    mkdir -p -m 0700 "$state"
    args=(-c "qemu:///session?root=$state")
    cat >"$xml" <<XML
<domain type='qemu'>
  <name>$name</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$guest/vmlinuz</kernel>
    <initrd>$guest/initrd.img</initrd>
    <cmdline>console=ttyS0 panic=-1 qv.poweroff_after=6</cmdline>
  </os>
  <features><acpi/></features>
</domain>
XML
fi

"$qv" "${args[@]}" vm destroy "$name" >/dev/null 2>&1 || true
run vm create --xml "$xml"
run vm start "$name"
# With standard input not a terminal, qv vm console prints the console
# until the guest's side closes it (the guest finished).
run vm console "$name" </dev/null
run vm show "$name"
