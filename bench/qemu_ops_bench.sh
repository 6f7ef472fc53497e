#!/bin/bash
# Issue 13's operations, each through qv (qemu:///session) and through
# libvirt's embedded QEMU driver (one virsh process, no daemon), on the
# same qemu-system-x86_64:
#   - cloning a stopped VM whose disk holds 64 MiB, then 4 GiB, of data
#     (qv: `qv vm clone`; libvirt: what virt-clone does for a disk file,
#     which copies it in full, then `define`; the embedded driver has no
#     storage driver for `vol-clone`, so the copy is cp --sparse=always);
#   - a snapshot of the running Linux test guest (memory and disk) and its
#     restore (qv: `qv vm snapshot create/restore`; libvirt:
#     `snapshot-create-as`, `snapshot-revert`);
#   - hot-adding a disk until the guest sees it (qv: `qv vm disk-add`;
#     libvirt: `attach-disk --live`), read from the guest's console, where
#     the test guest prints its block devices every 0.5 s: both sides carry
#     that granularity.
# Prints each time and the ratio libvirt / qv. One run; the machine's noise
# is the reader's to judge.
#
# Usage: qemu_ops_bench.sh QV_BINARY [GUEST_DIR]
# GUEST_DIR holds vmlinuz and initrd.img (default: what
# tests/fixtures/build-guest.sh builds or has cached).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
guest=${2:-}
if [ -z "$guest" ]; then guest=$("$here/../tests/fixtures/build-guest.sh"); fi
# shellcheck source=libvirt_embed.sh
. "$here/libvirt_embed.sh"
lv_setup "${1:?usage: $0 QV_BINARY [GUEST_DIR]}"
command -v qemu-img >/dev/null && command -v qemu-io >/dev/null ||
    { echo "qemu-img and qemu-io are missing (package qemu-utils)" >&2; exit 1; }
cp "$guest/vmlinuz" "$guest/initrd.img" "$work/"
as_user() { "${run[@]}" "$@"; }
qvc() { as_user "$qv" -c "$qv_uri" "$@"; }

# One long-lived virsh: the embedded driver lives in its process, so a
# domain it starts runs only as long as it does. virsh on a pipe buffers
# its output, so it gets a terminal (script); after each command `uri`
# prints the connection's URI on a line of its own, which marks the end.
coproc VIRSH { as_user script -q -c "virsh -q -c '$lv_uri'" /dev/null; }
vsh() {
    printf '%s\nuri\n' "$1" >&"${VIRSH[1]}"
    local line out=""
    while IFS= read -r line <&"${VIRSH[0]}"; do
        line=$(sed -e 's/\x1b\[[?0-9;]*[a-zA-Z]//g' -e 's/\r//g' <<<"$line")
        [ "$line" = "$lv_uri" ] && break
        out+="$line"$'\n'
    done
    if grep -q '^error:' <<<"$out"; then echo "virsh $1: $out" >&2; exit 1; fi
    printf '%s' "$out"
}
ms_since() { div "$(( $(now) - $1 ))" 1000000; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
report() { printf '  %-34s qv %9s ms   libvirt %9s ms   libvirt/qv %6s x\n' "$1" "$2" "$3" "$(ratio "$3" "$2")"; }

domain() { # name disk-file [kernel]
    local k=""
    [ -z "${3:-}" ] || k="<kernel>$work/vmlinuz</kernel><initrd>$work/initrd.img</initrd>
    <cmdline>console=ttyS0 quiet</cmdline>"
    cat <<XML
<domain type='qemu'>
  <name>$1</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type>$k</os>
  <features><acpi/></features>
  <devices>
    <emulator>$qemu</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/><source file='$2'/><target dev='vda' bus='virtio'/>
    </disk>
    ${4:-}
  </devices>
</domain>
XML
}

filled_disk() { # path size: a qcow2 disk whose every block holds data
    qemu-img create -q -f qcow2 "$1" "$2"
    local total chunk=$((1 << 30)) off=0
    total=$(numfmt --from=iec "$2")
    # qemu-io writes at most 2 GiB at a time.
    while [ "$off" -lt "$total" ]; do
        local len=$(( total - off < chunk ? total - off : chunk ))
        qemu-io -f qcow2 -c "write -P 0x5a $off $len" "$1" >/dev/null
        off=$((off + len))
    done
}

echo "QEMU operations, qv against libvirt 9.0 ($mode), one run each"

# ---- clones ----
for size in 64M 4G; do
    mkdir -p "$work/img-qv-$size" "$work/img-lv-$size"
    filled_disk "$work/img-qv-$size/src.qcow2" "$size"
    filled_disk "$work/img-lv-$size/src.qcow2" "$size"
    [ ${#run[@]} -eq 0 ] || chown -R nobody:nogroup "$work"
    domain "cq$size" "$work/img-qv-$size/src.qcow2" > "$work/cq$size.xml"
    domain "cl$size" "$work/img-lv-$size/src.qcow2" > "$work/cl$size.xml"
    qvc vm create --xml "$work/cq$size.xml" >/dev/null
    vsh "define $work/cl$size.xml" >/dev/null
    sync
    t=$(now); qvc vm clone "cq$size" --name "cq$size-copy" >/dev/null; qv_ms=$(ms_since "$t")
    sed -e "s|<name>cl$size</name>|<name>cl$size-copy</name>|" \
        -e "s|src.qcow2|copy.qcow2|" "$work/cl$size.xml" > "$work/cl$size-copy.xml"
    t=$(now)
    as_user cp --sparse=always "$work/img-lv-$size/src.qcow2" "$work/img-lv-$size/copy.qcow2"
    vsh "define $work/cl$size-copy.xml" >/dev/null
    lv_ms=$(ms_since "$t")
    report "clone, $size disk:" "$qv_ms" "$lv_ms"
    qvc vm destroy "cq$size-copy" >/dev/null; qvc vm destroy "cq$size" >/dev/null
    vsh "undefine cl$size-copy; undefine cl$size" >/dev/null
    rm -rf "$work/img-qv-$size" "$work/img-lv-$size"
done

# ---- a running guest: snapshot, restore, disk-add ----
qemu-img create -q -f qcow2 "$work/g-qv.qcow2" 64M
qemu-img create -q -f qcow2 "$work/g-lv.qcow2" 64M
qemu-img create -q -f raw "$work/add-qv.raw" 8M
qemu-img create -q -f raw "$work/add-lv.raw" 8M
lv_console="$work/lv-console.log"
: > "$lv_console"
[ ${#run[@]} -eq 0 ] || chown -R nobody:nogroup "$work"
domain gq "$work/g-qv.qcow2" k > "$work/gq.xml"
domain gl "$work/g-lv.qcow2" k "<serial type='file'><source path='$lv_console'/></serial>" > "$work/gl.xml"
qv_console="$work/qv/qemu/gq/console.log"

wait_console() { # file pattern timeout-s
    local deadline=$(( $(date +%s) + $3 ))
    until grep -q -- "$2" "$1" 2>/dev/null; do
        [ "$(date +%s)" -lt "$deadline" ] || { echo "timed out waiting for '$2' in $1" >&2; exit 1; }
        sleep 0.05
    done
}

qvc vm create --xml "$work/gq.xml" >/dev/null
qvc vm start gq >/dev/null
vsh "define $work/gl.xml" >/dev/null
vsh "start gl" >/dev/null
wait_console "$qv_console" "QV-GUEST-READY" 180
wait_console "$lv_console" "QV-GUEST-READY" 180
sleep 2

t=$(now); qvc vm snapshot create gq --name s1 >/dev/null; qv_ms=$(ms_since "$t")
t=$(now); vsh "snapshot-create-as gl s1" >/dev/null; lv_ms=$(ms_since "$t")
report "snapshot of the running guest:" "$qv_ms" "$lv_ms"
t=$(now); qvc vm snapshot restore gq --name s1 >/dev/null; qv_ms=$(ms_since "$t")
t=$(now); vsh "snapshot-revert gl s1" >/dev/null; lv_ms=$(ms_since "$t")
report "restore of that snapshot:" "$qv_ms" "$lv_ms"

sleep 1
t=$(now); qvc vm disk-add gq --type virtio-blk --path "$work/add-qv.raw" --target vdb >/dev/null
wait_console "$qv_console" "QV-DEVS blk=vda,vdb," 60; qv_ms=$(ms_since "$t")
t=$(now); vsh "attach-disk gl $work/add-lv.raw vdb --live" >/dev/null
wait_console "$lv_console" "QV-DEVS blk=vda,vdb," 60; lv_ms=$(ms_since "$t")
report "disk-add until the guest sees it:" "$qv_ms" "$lv_ms"

qvc vm destroy gq >/dev/null
vsh "destroy gl; snapshot-delete gl s1 --metadata; undefine gl" >/dev/null
printf 'quit\n' >&"${VIRSH[1]}"
wait "$VIRSH_PID" 2>/dev/null || true
