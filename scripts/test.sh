#!/usr/bin/env bash
# Install every dependency, build, and run every test.
#   scripts/test.sh               the normal build, in build/, and a noop-only
#                                 one in build-minimal/ (scripts/minimal_build.sh)
#   scripts/test.sh --sanitize    an ASan+UBSan build, in build-asan/
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

sanitize=0
for a in "$@"; do
    case $a in
    --sanitize) sanitize=1 ;;
    *) echo "usage: scripts/test.sh [--sanitize]" >&2; exit 2 ;;
    esac
done

bash scripts/setup.sh

if [ $sanitize = 1 ]; then
    dir=build-asan
    # QV_FUZZ adds the libFuzzer targets (a clang sub-build; the rest stays
    # gcc) and one bounded run of each as a ctest labelled fuzz.
    bash scripts/build.sh "$top/$dir" -DQV_SANITIZE="address;undefined" -DQV_FUZZ=ON
    # Leak checking stays on for our binaries; Python itself is not built
    # with ASan, so its tests preload the runtime (tests/python sets that).
    export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
else
    dir=build
    bash scripts/build.sh "$top/$dir"
fi

if [ ! -e /dev/kvm ]; then
    echo "note: /dev/kvm is absent: tests that need KVM will report themselves skipped"
fi
cd "$dir"
ctest --output-on-failure --timeout 900 -j 2

# Where this host has no /dev/kvm, the tests that run KVM guests (ctest label
# kvm-guest) skipped themselves above: run them once more where KVM is real,
# inside a Linux guest under QEMU TCG with emulated AMD-V (nested-kvm.sh).
if [ ! -e /dev/kvm ] && [ $sanitize = 0 ]; then
    echo "== /dev/kvm is absent: the kvm-guest tests again inside scripts/nested-kvm.sh"
    set +e
    bash "$top/scripts/nested-tests.sh" "$top/$dir"
    rc=$?
    set -e
    case $rc in
    0) ;;
    77) echo "note: QEMU's emulated AMD-V gave no /dev/kvm here: the kvm-guest tests stay skipped" ;;
    *) echo "the kvm-guest tests failed inside scripts/nested-kvm.sh" >&2; exit 1 ;;
    esac
fi

if [ $sanitize = 0 ]; then
    # A build with only the noop driver (-DQV_WITH_<DRIVER>=OFF for the rest),
    # checked against this one.
    bash "$top/scripts/minimal_build.sh" "$top/build-minimal" "$top/$dir"
fi
