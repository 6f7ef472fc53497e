#!/usr/bin/env bash
# kvm:///embed against QEMU on the same payloads, side by side:
#  (a) `qv vm run` of the hello payload, process start to exit, against
#      qemu-system-x86_64 -kernel with the faster of -accel kvm and tcg;
#  (b) guest port writes per second from the ioloop payload, to a port
#      that exits to the VMM on each write and to port 0x80 (coalesced);
#  (c) vm_create + vm_destroy pairs per second;
#  (floor) the same hello and port-0x99 runs against the KVM floor, a
#      static program doing only the ioctls they need (kvm_floor_bench.sh).
# Usage: bench/kvm_bench.sh BUILD_DIR [RUNS]
# QV_BENCH_SECTIONS picks sections (default "a b c floor"); QV_BENCH_WRITES
# sets the floor section's write count (under scripts/nested-kvm.sh, where
# every exit is emulated, pass them with env: `-- env QV_BENCH_SECTIONS=floor ...`).
set -euo pipefail
build=$(cd "${1:?usage: kvm_bench.sh BUILD_DIR [RUNS]}" && pwd)
runs=${2:-10}
sections=" ${QV_BENCH_SECTIONS:-a b c floor} "
want() { [[ $sections == *" $1 "* ]]; }
qv=$(find "$build/tools" -name qv -type f -perm -u+x | head -n1)
guests=$build/tests/guests
qemu_base=(qemu-system-x86_64 -device isa-debug-exit,iobase=0xf4,iosize=0x4 -serial stdio
           -display none -nodefaults -no-reboot -m 64)

# Mean wall time in ms of RUNS runs of a command (output discarded; the
# guest's exit status is expected to be non-zero).
mean_ms() {
    local total=0 t0 t1
    for ((i = 0; i < runs; i++)); do
        t0=$(date +%s%N)
        "$@" </dev/null >/dev/null 2>&1 || true
        t1=$(date +%s%N)
        total=$((total + (t1 - t0)))
    done
    echo $((total / runs / 1000)) | awk '{printf "%.2f", $1 / 1000}'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1fx", ((b > 0 && a > 0) ? b / a : 0) }'; }

if want a; then
    echo "== (a) hello, process start to exit (mean of $runs)"
    qv_ms=$(mean_ms "$qv" -c kvm:///embed vm run --memory 64M --kernel "$guests/hello.elf")
    tcg_ms=$(mean_ms "${qemu_base[@]}" -accel tcg -kernel "$guests/hello.elf")
    kvm_ms=$(runs=1 mean_ms timeout 60 "${qemu_base[@]}" -accel kvm -kernel "$guests/hello.elf")
    best=$tcg_ms best_name=tcg
    if awk -v k="$kvm_ms" -v t="$tcg_ms" 'BEGIN { exit !(k < t) }'; then best=$kvm_ms best_name=kvm; fi
    printf '%-34s %10s ms\n' "qv vm run (kvm:///embed)" "$qv_ms"
    printf '%-34s %10s ms\n' "qemu -accel tcg" "$tcg_ms"
    printf '%-34s %10s ms (1 run)\n' "qemu -accel kvm" "$kvm_ms"
    printf '%-34s %10s\n' "qv faster than qemu ($best_name) by" "$(ratio "$qv_ms" "$best")"
    echo "   inside the process: $("$build/bench/kvm_phases" "$guests/hello.elf" "$runs")"
fi

if want b; then
    echo "== (b) guest port writes per second (ioloop payload; 200000 writes, minus a run of 0)"
    n=200000
    io_rate() { # extra cmdline, command... : writes/s from the time of count=N minus count=0
        local extra=$1 t_n t_0
        shift
        t_n=$(runs=3 mean_ms "$@" "count=$n $extra")
        t_0=$(runs=3 mean_ms "$@" "count=0 $extra")
        awk -v a="$t_n" -v b="$t_0" -v n="$n" 'BEGIN { d = (a - b) / 1000; printf "%.0f", (d > 0 ? n / d : 0) }'
    }
    for p in 153 128; do
        if [ "$p" = 128 ]; then what="port 0x80 (KVM coalesces it)"; else what="port 0x99 (one exit each)"; fi
        qv_io=$(io_rate "port=$p" "$qv" -c kvm:///embed vm run --memory 64M --kernel "$guests/ioloop.elf" --append)
        tcg_io=$(io_rate "port=$p" "${qemu_base[@]}" -accel tcg -kernel "$guests/ioloop.elf" -append)
        echo "-- $what"
        printf '%-34s %10s writes/s\n' "qv (kvm:///embed)" "$qv_io"
        printf '%-34s %10s writes/s\n' "qemu -accel tcg" "$tcg_io"
        printf '%-34s %10s\n' "qv / qemu" "$(awk -v a="$qv_io" -v b="$tcg_io" 'BEGIN { printf "%.2fx", (b ? a / b : 0) }')"
    done
fi

if want c; then
    echo "== (c) vm_create + vm_destroy (64 MiB, 1 vCPU)"
    printf '%-34s %10s\n' "kvm:///embed" "$("$build/bench/kvm_create_destroy" 200)"
fi

if want floor; then
    bash "$(dirname "$0")/kvm_floor_bench.sh" "$build" "$runs"
fi
