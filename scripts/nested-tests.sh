#!/usr/bin/env bash
# Runs the tests labelled kvm-guest (those that run KVM guests) of a build
# tree inside scripts/nested-kvm.sh, one emulated machine per test, for a
# host without /dev/kvm. QEMU's emulated AMD-V now and then stops the whole
# emulated machine (no output, no progress, seen with kvm_lifecycle under
# load; nested-kvm.sh ends it when its heartbeat stops): a test whose
# machine stops is run once more, and if it stops again the test is
# reported not run, with that reason, as a test reports itself skipped
# where the host lacks what it needs. A test that reports a failure fails.
# Usage: scripts/nested-tests.sh BUILD_DIR
# Exit status: 0 none failed (some may not have run: listed); 1 a test failed;
# 77 the emulated machine offers no /dev/kvm (nothing was run).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:?usage: scripts/nested-tests.sh BUILD_DIR}" && pwd)
cd "$build"
mapfile -t tests < <(ctest -N -L kvm-guest | sed -n 's/^ *Test *#[0-9]*: \(.*\)$/\1/p')
[ ${#tests[@]} -gt 0 ] || { echo "nested-tests: no test is labelled kvm-guest in $build" >&2; exit 1; }

failed=()
stopped=()
start=$(date +%s)
for t in "${tests[@]}"; do
    for attempt in 1 2; do
        t0=$(date +%s)
        set +e
        out=$(timeout 600 bash "$top/scripts/nested-kvm.sh" --mem 8192 -- \
            ctest -R "^$t\$" --output-on-failure --timeout 280 2>&1)
        rc=$?
        set -e
        secs=$(( $(date +%s) - t0 ))
        case $rc in
        0) echo "nested: $t passed (${secs} s)"; break ;;
        77) printf '%s\n' "$out"; echo "nested: the emulated machine has no /dev/kvm"; exit 77 ;;
        124 | 125)
            if [ $attempt = 1 ]; then
                echo "nested: $t: the emulated machine stopped answering after ${secs} s; once more"
                continue
            fi
            echo "nested: $t not run: the emulated machine stopped twice"
            stopped+=("$t") ;;
        *) printf '%s\n' "$out"; echo "nested: $t FAILED (${secs} s)"; failed+=("$t"); break ;;
        esac
    done
done
echo "nested: ${#tests[@]} kvm-guest tests in $(( $(date +%s) - start )) s, ${#failed[@]} failed${failed[*]:+: ${failed[*]}}, ${#stopped[@]} not run (the emulated machine stopped)${stopped[*]:+: ${stopped[*]}}"
[ ${#failed[@]} -eq 0 ]
