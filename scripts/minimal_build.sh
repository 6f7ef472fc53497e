#!/usr/bin/env bash
# A libqv with only the noop driver (-DQV_WITH_<DRIVER>=OFF for the others)
# builds, runs the noop lifecycle, keeps the full ABI, refuses URIs of the
# left-out drivers naming the option, and links neither libsoup nor libssh.
# With FULL_BUILD_DIR (a build with every driver, as scripts/test.sh makes),
# also checks that that one still has them all and exports the same symbols.
#   scripts/minimal_build.sh [MIN_BUILD_DIR [FULL_BUILD_DIR]]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-"$top/build-minimal"}
full=${2:-}
start=$(date +%s)

fail() {
    echo "minimal build: $*" >&2
    exit 1
}

# -O0 without debug info: this checks what is built and linked, quickly.
cmake -S "$top" -B "$dir" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS_DEBUG=-O0 -DQV_WITH_NOOP=ON -DQV_WITH_KVM=OFF \
    -DQV_WITH_QEMU=OFF -DQV_WITH_PROPOLIS=OFF -DQV_WITH_REMOTE=OFF >/dev/null
# Only what the checks below run: the whole suite is the normal build's job.
cmake --build "$dir" -j "$(nproc)" --target qv qv_cli noop_lifecycle >/dev/null
(cd "$dir" && ctest -R '^(noop_lifecycle|core_exports|cli_system)$' --output-on-failure)

lib=$(readlink -f "$dir/libqv.so")
qv=$dir/tools/qv/qv

drivers=$("$qv" -c noop:/// system info | sed -n 's/^Drivers: *//p')
[ "$drivers" = noop ] || fail "qv system info lists drivers '$drivers', not just noop"

want="qv: error: cannot open 'qemu:///session': the qemu driver is not built into this libqv (configure with -DQV_WITH_QEMU=ON)"
if got=$("$qv" -c qemu:///session vm list 2>&1); then
    fail "qemu:///session opened in a build without the qemu driver"
fi
[ "$got" = "$want" ] || fail "qemu:///session: got '$got', want '$want'"

for f in "$lib" "$qv"; do
    needed=$(readelf -d "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
    if grep -E '^lib(soup|ssh)' <<<"$needed"; then
        fail "$f links the above though no driver built needs it"
    fi
done

# The Python bindings load the same ABI and report the same refusal.
QV_LIBRARY=$lib PYTHONPATH=$top/bindings/python PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 - <<'EOF'
import qv
assert qv.list_drivers() == ["noop"], qv.list_drivers()
try:
    qv.qemu_probe("kvm")
    raise SystemExit("qv.qemu_probe worked without the qemu driver")
except qv.UnsupportedError as e:
    assert "-DQV_WITH_QEMU=ON" in str(e), str(e)
try:
    qv.connect("qemu:///session")
    raise SystemExit("qemu:///session opened without the qemu driver")
except qv.UnsupportedError as e:
    assert "the qemu driver is not built" in str(e), str(e)
with qv.connect("noop:///") as c:
    c.create_vm("minimal").destroy()
EOF

if [ -n "$full" ]; then
    full_lib=$(readlink -f "$full/libqv.so")
    exports() { nm -D --defined-only "$1" | awk '{print $3}' | sort; }
    diff <(exports "$full_lib") <(exports "$lib") >/dev/null ||
        fail "$lib and $full_lib export different symbols"
    full_drivers=$("$full/tools/qv/qv" -c noop:/// system info | sed -n 's/^Drivers: *//p')
    [ "$full_drivers" = "noop, kvm, qemu, propolis, remote" ] ||
        fail "the full build lists drivers '$full_drivers'"
    full_needed=$(readelf -d "$full_lib" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
    grep -q '^libsoup-3' <<<"$full_needed" && grep -q '^libssh' <<<"$full_needed" ||
        fail "the full build's libqv lacks libsoup or libssh"
fi

echo "minimal build ($(( $(date +%s) - start )) s): drivers $drivers; libqv.so (-O0)" \
    "$(stat -c %s "$lib") bytes; NEEDED: $(readelf -d "$lib" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')"
