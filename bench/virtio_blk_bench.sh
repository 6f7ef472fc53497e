#!/usr/bin/env bash
# virtio-blk sequential 4 KiB writes and reads from a guest (issue 10):
# tests/guests/vblkbench.elf under `qv vm run` on kvm:///embed against the
# same payload under QEMU's microvm machine (-M microvm -accel kvm, default
# CPU model, virtio-mmio in its modern mode), each on a raw image of its own
# of the same size with cache=none, interleaved, RUNS times. The payload
# times each phase of 2048 requests (one in flight) with the TSC; both are
# KVM guests of this host, so their cycles compare directly. Medians, and
# requests per second of qv against QEMU (target: not slower, >= 1.0x).
# Usage: bench/virtio_blk_bench.sh BUILD_DIR [RUNS]
set -euo pipefail
build=$(cd "${1:?usage: virtio_blk_bench.sh BUILD_DIR [RUNS]}" && pwd)
runs=${2:-5}
qv=$build/tools/qv/qv
export QV_VMM=$build/tools/qv-vmm/qv-vmm
payload=$build/tests/guests/vblkbench.elf
[ -x "$qv" ] && [ -r "$payload" ] || { echo "virtio_blk_bench: build first ($qv, $payload)" >&2; exit 2; }
info=$("$qv" system info 2>/dev/null || true)
if ! grep -Eq '^KVM usable: +yes' <<<"$info"; then
    echo "virtio_blk_bench: /dev/kvm is not usable here"
    exit 77
fi
command -v qemu-system-x86_64 >/dev/null || { echo "virtio_blk_bench: no qemu-system-x86_64"; exit 77; }
# cache=none is O_DIRECT: on a tmpfs it fails, so the images go to /var/tmp.
dir=$(mktemp -d /var/tmp/qv-vblk-bench.XXXXXX)
trap 'rm -rf "$dir"' EXIT
cat >"$dir/vm.xml" <<XML
<domain type='kvm'><name>vblkbench</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>
<os><type arch='x86_64'>hvm</type><kernel>$payload</kernel></os>
<devices><disk type='file' device='disk'><driver name='qemu' type='raw' cache='none'/>
<source file='$dir/qv.raw'/><target dev='vda' bus='virtio'/></disk>
<serial type='stdio'><target port='0'/></serial></devices></domain>
XML
cycles() { sed -n "s/^vblkbench: $1 cycles-per-request \([0-9]*\).*/\1/p"; }
declare -a qw=() qr=() mw=() mr=()
for ((i = 0; i < runs; i++)); do
    rm -f "$dir/qv.raw" "$dir/qemu.raw"
    truncate -s 16M "$dir/qv.raw" "$dir/qemu.raw"
    out=$("$qv" -c "kvm:///embed?root=$dir/state" vm run --xml "$dir/vm.xml" </dev/null || true)
    qw+=("$(cycles write <<<"$out")") qr+=("$(cycles read <<<"$out")")
    out=$(qemu-system-x86_64 -M microvm -accel kvm -global virtio-mmio.force-legacy=false \
        -kernel "$payload" -serial stdio -display none -nodefaults -no-reboot -m 32 \
        -device isa-debug-exit,iobase=0xf4,iosize=0x4 \
        -drive "id=d0,file=$dir/qemu.raw,format=raw,if=none,cache=none" \
        -device virtio-blk-device,drive=d0 </dev/null 2>/dev/null || true)
    mw+=("$(cycles write <<<"$out")") mr+=("$(cycles read <<<"$out")")
done
median() { printf '%s\n' "$@" | grep -E '^[0-9]+$' | sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "n/a"; else print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }
echo "== virtio-blk, 2048 sequential 4 KiB requests per phase, one in flight, cache=none; TSC cycles per request, median of $runs ($(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%-8s %14s %14s %22s\n' phase "qv (kvm)" "QEMU microvm" "qv req/s / QEMU's"
for p in write read; do
    if [ $p = write ]; then a=$(median "${qw[@]}") b=$(median "${mw[@]}"); else a=$(median "${qr[@]}") b=$(median "${mr[@]}"); fi
    awk -v p=$p -v a="$a" -v b="$b" 'BEGIN { if (a == "n/a" || b == "n/a") { printf "%-8s %14s %14s %22s\n", p, a, b, "n/a"; exit }
        printf "%-8s %14d %14d %21.2fx (target: >= 1.0x)\n", p, a, b, b / a }'
done
echo "raw qv write: ${qw[*]}"
echo "raw qv read:  ${qr[*]}"
echo "raw QEMU write: ${mw[*]}"
echo "raw QEMU read:  ${mr[*]}"
