#!/bin/bash
# Full VM lifecycle (define, start, state, force stop, undefine) on one
# domain XML, through qv (qemu:///session) and through libvirt's embedded
# QEMU driver (virsh -c qemu:///embed?root=DIR, no daemon), on the same
# qemu-system-x86_64. Prints both times and the ratio.
#
# Usage: qemu_lifecycle.sh QV_BINARY [ITERATIONS] [QEMU_BENCH_BINARY]
# With bench/qemu_bench.c's binary it also runs the lifecycle through the C
# API in one process (as virsh runs its five commands in one) and measures
# the QMP round trip behind vm_get_state().
set -euo pipefail

n=${2:-5}
# shellcheck source=libvirt_embed.sh
. "$(dirname "$0")/libvirt_embed.sh"
lv_setup "${1:?usage: $0 QV_BINARY [ITERATIONS] [QEMU_BENCH_BINARY]}" "${3:-}"
api=$extra

xml="$work/domain.xml"
cat > "$xml" <<XML
<domain type='qemu'>
  <name>bench1</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <features><acpi/></features>
  <devices><emulator>$qemu</emulator></devices>
</domain>
XML
chmod 644 "$xml"

qv_cycle() {
    "${run[@]}" "$qv" -c "$qv_uri" vm create --xml "$xml" >/dev/null
    "${run[@]}" "$qv" -c "$qv_uri" vm start bench1 >/dev/null
    "${run[@]}" "$qv" -c "$qv_uri" vm show bench1 | grep -q 'State: *running'
    "${run[@]}" "$qv" -c "$qv_uri" vm stop --force bench1 >/dev/null
    "${run[@]}" "$qv" -c "$qv_uri" vm destroy bench1 >/dev/null
}

# One virsh process running the five commands: libvirt's best case.
lv_cycle() {
    out=$("${run[@]}" virsh -q -c "$lv_uri" \
        "define $xml; start bench1; domstate bench1; destroy bench1; undefine bench1" 2>&1)
    grep -q '^running' <<<"$out" || { echo "virsh failed: $out" >&2; exit 1; }
}

# Warm both up (libvirt probes and caches QEMU's capabilities on first use).
qv_cycle
lv_cycle

t=$(now); for ((i = 0; i < n; i++)); do qv_cycle; done; qv_ns=$(( ($(now) - t) / n ))
t=$(now); for ((i = 0; i < n; i++)); do lv_cycle; done; lv_ns=$(( ($(now) - t) / n ))

echo "QEMU lifecycle (define, start, state, force stop, undefine), mean of $n, $mode"
printf '  qv (5 qv processes, qemu:///session):       %8s ms\n' "$(div "$qv_ns" 1000000)"
printf '  libvirt (1 virsh process, qemu:///embed):   %8s ms\n' "$(div "$lv_ns" 1000000)"
printf '  libvirt / qv CLI:                           %8s x\n' "$(div "$lv_ns" "$qv_ns")"
if [ -n "$api" ]; then
    out=$(cd "$work" && "${run[@]}" env TMPDIR="$work" "$api" "$n")
    api_ms=$(sed -n 's/^qv C API lifecycle.*: \([0-9.]*\) ms.*/\1/p' <<<"$out")
    printf '  qv (C API, 1 process):                      %8s ms\n' "$api_ms"
    printf '  libvirt / qv C API:                         %8s x\n' \
        "$(div "$lv_ns" "$(awk -v m="$api_ms" 'BEGIN { printf "%d", m * 1000000 }')")"
    grep -v '^qv C API lifecycle' <<<"$out"
fi
