#!/usr/bin/env bash
# qv on kvm:///embed against the KVM floor (bench/kvm_floor.c: a static
# program doing only the ioctls the same run needs), issue 10's targets:
#  - hello, process start to exit: `qv vm run` of hello.elf against the
#    floor printing one byte; target qv/floor at most 1.5x;
#  - port-I/O exits per second: the ioloop payload writing port 0x99 N
#    times against the floor's own loop of N writes, each rate from
#    time(N) - time(0); target qv/floor at least 0.9x.
# Runs are interleaved (floor, qv, floor, qv ...) so that a change in the
# machine's load hits both alike, and medians are printed.
# Usage: bench/kvm_floor_bench.sh BUILD_DIR [RUNS]   (QV_BENCH_WRITES=N, default 200000)
set -euo pipefail
build=$(cd "${1:?usage: kvm_floor_bench.sh BUILD_DIR [RUNS]}" && pwd)
runs=${2:-11}
n=${QV_BENCH_WRITES:-200000}
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "kvm_floor_bench: RUNS '$runs' is not a positive number" >&2; exit 2; }
[[ $n =~ ^[1-9][0-9]*$ ]] || { echo "kvm_floor_bench: QV_BENCH_WRITES '$n' is not a positive number" >&2; exit 2; }
qv=$(find "$build/tools" -name qv -type f -perm -u+x | head -n1)
floor=$build/bench/kvm_floor
guests=$build/tests/guests
for f in "$qv" "$floor" "$guests/hello.elf" "$guests/ioloop.elf"; do
    [ -n "$f" ] && [ -e "$f" ] || { echo "kvm_floor_bench: ${f:-qv} is not built in $build" >&2; exit 2; }
done
if [ ! -e /dev/kvm ]; then
    echo "== floor: skipped, /dev/kvm is absent (try scripts/nested-kvm.sh -- bash $0 ...)"
    exit 0
fi
qv_run=("$qv" -c kvm:///embed vm run --memory 64M --kernel)

# Each command must do its work once before it is timed: a run that fails
# fast would otherwise look like a fast run.
expect() { # what-it-must-print command...
    local want=$1 out
    shift
    out=$("$@" </dev/null 2>&1) || true
    if [[ $out != *"$want"* ]]; then
        echo "kvm_floor_bench: '$*' did not print '$want'; it printed:" >&2
        printf '%s\n' "$out" >&2
        exit 1
    fi
}
expect "H" "$floor"
expect "Hello from a qv guest!" "${qv_run[@]}" "$guests/hello.elf"
expect "kvm_floor: $n port writes to 0x99" "$floor" loop "$n" 0x99
expect "ioloop: $n port writes" "${qv_run[@]}" "$guests/ioloop.elf" --append "count=$n port=153"

# Wall time of one run in microseconds, into the array named by $1. The
# clock is bash's own (no fork), so the window is fork, exec and the run.
time_into() {
    local -n into=$1
    shift
    local t0 t1
    t0=${EPOCHREALTIME/[.,]/}
    "$@" </dev/null >/dev/null 2>&1 || true
    t1=${EPOCHREALTIME/[.,]/}
    into+=($((t1 - t0)))
}
median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
ms() { awk -v us="$1" 'BEGIN { printf "%.2f", us / 1000 }'; }
verdict() { # ratio op target
    if awk -v r="$1" -v t="$3" -v op="$2" 'BEGIN { exit !(op == "<=" ? r <= t : r >= t) }'; then
        echo "met"
    else
        echo "MISSED"
    fi
}

note=""
if command -v readelf >/dev/null && readelf -l "$floor" 2>/dev/null | grep -q INTERP; then
    note=" (dynamically linked: a sanitizer build; not the floor)"
fi

echo "== floor: qv against bench/kvm_floor$note, interleaved, median of $runs"
echo "-- hello, process start to exit (64 MiB, in-kernel irqchip and PIT, 1 vCPU)"
t_floor=() t_qv=() t_ver=()
for ((i = 0; i < runs; i++)); do
    time_into t_floor "$floor"
    time_into t_qv "${qv_run[@]}" "$guests/hello.elf"
    time_into t_ver "$qv" --version
done
m_floor=$(median "${t_floor[@]}") m_qv=$(median "${t_qv[@]}") m_ver=$(median "${t_ver[@]}")
r=$(awk -v a="$m_qv" -v b="$m_floor" 'BEGIN { printf "%.2f", a / b }')
printf '%-40s %10s ms\n' "kvm_floor" "$(ms "$m_floor")"
printf '%-40s %10s ms\n' "qv vm run (kvm:///embed)" "$(ms "$m_qv")"
printf '%-40s %10s   target at most 1.5x: %s\n' "qv / floor" "${r}x" "$(verdict "$r" "<=" 1.5)"
printf '%-40s %10s ms\n' "   qv --version (exec, libraries, exit)" "$(ms "$m_ver")"
echo "   raw us, floor: ${t_floor[*]}"
echo "   raw us, qv:    ${t_qv[*]}"
nlibs=$(LD_TRACE_LOADED_OBJECTS=1 "$qv" 2>/dev/null | grep -c '=>' || true)
echo "   qv loads $nlibs shared libraries; ld.so (LD_DEBUG=statistics, qv --version):"
LD_DEBUG=statistics "$qv" --version 2>&1 >/dev/null |
    sed -n 's/^ *[0-9]*:[[:space:]]*\(total startup time.*\|time needed to load objects.*\|time needed for relocation.*\)/     \1/p'
echo "   inside the process: $("$build/bench/kvm_phases" "$guests/hello.elf" "$runs" 2>&1)"

echo "-- port-I/O exits to 0x99 ($n writes, minus a run of 0)"
f_n=() f_0=() q_n=() q_0=()
for ((i = 0; i < runs; i++)); do
    time_into f_n "$floor" loop "$n" 0x99
    time_into q_n "${qv_run[@]}" "$guests/ioloop.elf" --append "count=$n port=153"
    time_into f_0 "$floor" loop 0 0x99
    time_into q_0 "${qv_run[@]}" "$guests/ioloop.elf" --append "count=0 port=153"
done
rate() { awk -v a="$1" -v b="$2" -v n="$n" 'BEGIN { d = (a - b) / 1e6; printf "%.0f", (d > 0 ? n / d : 0) }'; }
per_exit() { awk -v a="$1" -v b="$2" -v n="$n" 'BEGIN { printf "%.2f", (a - b) / n }'; }
mf_n=$(median "${f_n[@]}") mf_0=$(median "${f_0[@]}") mq_n=$(median "${q_n[@]}") mq_0=$(median "${q_0[@]}")
fr=$(rate "$mf_n" "$mf_0") qr=$(rate "$mq_n" "$mq_0")
r=$(awk -v a="$qr" -v b="$fr" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
printf '%-40s %10s writes/s (%s us each; medians %s - %s ms)\n' "kvm_floor loop" "$fr" \
    "$(per_exit "$mf_n" "$mf_0")" "$(ms "$mf_n")" "$(ms "$mf_0")"
printf '%-40s %10s writes/s (%s us each; medians %s - %s ms)\n' "qv ioloop (kvm:///embed)" "$qr" \
    "$(per_exit "$mq_n" "$mq_0")" "$(ms "$mq_n")" "$(ms "$mq_0")"
printf '%-40s %10s   target at least 0.9x: %s\n' "qv / floor" "${r}x" "$(verdict "$r" ">=" 0.9)"
