#!/bin/bash
# kvm:///session at scale (issue 12): N VMs started at once, each in its own
# qv-vmm, and the private memory of each qv-vmm beyond its guest's RAM,
# against the same figure for QEMU hosting a tiny guest.
#
# The guest's RAM is a memfd (shared memory), so a qv-vmm's RssAnon is
# exactly what it costs beyond the guest: its heap, stacks, libraries' data.
# Where /dev/kvm is usable the VMs are real KVM guests (spin.elf, 16 MiB);
# elsewhere they are noop VMs inside qv-vmm (vmm_uri=noop:///), which
# measures qv-vmm's own overhead without the VMM's per-guest structures,
# and says so. QEMU runs hello.elf (16 MiB) under TCG for reference; its
# RAM is anonymous, so its figure is RssAnon less the guest's touched pages
# as far as QEMU reports them (here: RssAnon less nothing, an upper bound
# on QEMU's side is not claimed: see the printed note).
#
# Usage: bench/session_bench.sh BUILD_DIR [N] [N_QEMU]
set -euo pipefail
build=$(cd "$1" && pwd)
n=${2:-50}
nq=${3:-5}
qv=$build/tools/qv/qv
export QV_VMM=$build/tools/qv-vmm/qv-vmm
unset QV_DEFAULT_URI
guests=$build/tests/guests
dir=$(mktemp -d /tmp/qv-session-bench.XXXXXX)
suri= quri=
cleanup() {
    for u in "$suri" "$quri"; do
        [ -n "$u" ] || continue
        for vm in $("$qv" -c "$u" vm list --all 2>/dev/null | awk 'NR > 1 { print $1 }'); do
            "$qv" -c "$u" vm destroy "$vm" >/dev/null 2>&1 || true
        done
    done
    rm -rf "$dir"
}
trap cleanup EXIT

now() { date +%s%N; }
rss_anon_kib() { awk '/^RssAnon:/ { print $2 }' "/proc/$1/status"; }
pid_of() { /usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pid"])' "$1"; }

if "$qv" system info 2>/dev/null | grep -Eq '^KVM usable: +yes' && [ -r "$guests/spin.elf" ]; then
    vmm_uri=kvm:///embed
    what="KVM guests (spin.elf, 16 MiB each)"
    os="<os><type arch='x86_64'>hvm</type><kernel>$guests/spin.elf</kernel></os>"
else
    vmm_uri=noop:///
    what="noop VMs inside qv-vmm: /dev/kvm is not usable here, so this is qv-vmm's own overhead, without the VMM's per-guest structures"
fi
suri="kvm:///session?root=$dir/s&vmm_uri=$vmm_uri"
echo "session_bench: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); $n $what"

for i in $(seq "$n"); do
    printf "<domain type='kvm'><name>b%d</name><memory unit='MiB'>16</memory><vcpu>1</vcpu>%s</domain>\n" \
        "$i" "${os:-<os><type arch='x86_64'>hvm</type></os>}" >"$dir/b$i.xml"
    "$qv" -c "$suri" vm create --xml "$dir/b$i.xml" >/dev/null
done
t=$(now)
pids=()
for i in $(seq "$n"); do "$qv" -c "$suri" vm start "b$i" >/dev/null & pids+=($!); done
fail=0
for p in "${pids[@]}"; do wait "$p" || fail=$((fail + 1)); done
start_ms=$(( ($(now) - t) / 1000000 ))
running=$("$qv" -c "$suri" vm list | awk 'NR > 1 && $2 == "running"' | wc -l)
sleep 1 # let each settle past start-up allocations
total=0 max=0
for i in $(seq "$n"); do
    kib=$(rss_anon_kib "$(pid_of "$dir/s/kvm/b$i/runtime.json")")
    total=$((total + kib)); [ "$kib" -gt "$max" ] && max=$kib
done
vmm_mean=$((total / n))
printf '%-44s %d started at once in %d ms, %d running, %d failed\n' "kvm:///session ($vmm_uri)" \
    "$n" "$start_ms" "$running" "$fail"
printf '%-44s RssAnon per qv-vmm: mean %d KiB, max %d KiB (target: at most 3072 KiB)\n' "" \
    "$vmm_mean" "$max"

if command -v qemu-system-x86_64 >/dev/null && [ -r "$guests/hello.elf" ]; then
    quri="qemu:///session?root=$dir/q"
    for i in $(seq "$nq"); do
        printf "<domain type='qemu'><name>q%d</name><memory unit='MiB'>16</memory><vcpu>1</vcpu><os><type arch='x86_64'>hvm</type><kernel>%s</kernel></os></domain>\n" \
            "$i" "$guests/hello.elf" >"$dir/q$i.xml"
        "$qv" -c "$quri" vm create --xml "$dir/q$i.xml" >/dev/null
        "$qv" -c "$quri" vm start "q$i" >/dev/null
    done
    sleep 2
    total=0
    for i in $(seq "$nq"); do
        total=$((total + $(rss_anon_kib "$(pid_of "$dir/q/qemu/q$i/runtime.json")")))
    done
    qemu_mean=$((total / nq))
    printf '%-44s RssAnon per QEMU (hello.elf halted, 16 MiB, TCG): mean %d KiB over %d, guest RAM included\n' \
        "qemu:///session" "$qemu_mean" "$nq"
    awk -v a="$vmm_mean" -v b="$qemu_mean" \
        'BEGIN { printf "%-44s qv-vmm / QEMU private memory: %.3f\n", "ratio", a / b }'
fi
