#!/usr/bin/env bash
# One bounded fuzzing run, as ctest does it:
#   run_fuzzer.sh FUZZER SEED_DIR WORK_DIR SECONDS [libFuzzer options...]
# New inputs go to WORK_DIR/corpus (the seeds in the source tree stay as
# they are); a crash leaves its input in WORK_DIR and fails the run.
set -euo pipefail
fuzzer=$1 seeds=$2 work=$3 secs=$4
shift 4
mkdir -p "$work/corpus"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}:abort_on_error=0
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
exec "$fuzzer" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$work/" "$@" "$work/corpus" "$seeds"
