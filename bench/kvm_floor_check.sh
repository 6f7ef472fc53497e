#!/usr/bin/env bash
# What bench/kvm_floor_bench.sh relies on: the floor prints the guest's byte
# and writes the port exactly N times, and refuses arguments it cannot
# honour. Exit 77 (skip) where /dev/kvm is absent, after the argument checks.
# Usage: kvm_floor_check.sh PATH/TO/kvm_floor
set -uo pipefail
floor=${1:?usage: kvm_floor_check.sh KVM_FLOOR}
fails=0
check() { # what got want
    if [ "$2" != "$3" ]; then
        printf 'FAIL %s:\n  got:  %q\n  want: %q\n' "$1" "$2" "$3"
        fails=$((fails + 1))
    fi
}
errfile=$(mktemp)
trap 'rm -f "$errfile"' EXIT
run() { # args... -> "status|stdout|stderr"
    local out rc
    out=$("$floor" "$@" 2>"$errfile") && rc=0 || rc=$?
    printf '%s|%s|%s' "$rc" "$out" "$(cat "$errfile")"
}

check "the exit port is refused" "$(run loop 5 0xf4)" \
    "2||kvm_floor: port '0xf4' is not a number from 0 to 0xffff other than 0xf4 (the exit port)"
check "a port past 0xffff is refused" "$(run loop 5 0x10000)" \
    "2||kvm_floor: port '0x10000' is not a number from 0 to 0xffff other than 0xf4 (the exit port)"
check "a negative count is refused" "$(run loop -1 0x99)" \
    "2||kvm_floor: count '-1' is not a number from 0 to 4294967295"
check "a count past 32 bits is refused" "$(run loop 4294967296 0x99)" \
    "2||kvm_floor: count '4294967296' is not a number from 0 to 4294967295"
r=$(run hello)
check "a stray argument gets the usage" "${r%%|*}" "2"

if [ ! -e /dev/kvm ]; then
    [ "$fails" -eq 0 ] || exit 1
    echo "SKIP: /dev/kvm is absent (the argument checks passed)"
    exit 77
fi
check "hello prints the guest's byte" "$(run)" "0|H|"
check "loop writes the port N times" "$(run loop 1000 0x99)" "0|kvm_floor: 1000 port writes to 0x99|"
check "loop of 0 writes nothing" "$(run loop 0 153)" "0|kvm_floor: 0 port writes to 0x99|"
[ "$fails" -eq 0 ] && echo "PASS"
exit $((fails > 0))
