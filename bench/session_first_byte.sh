#!/usr/bin/env bash
# kvm:///session start-up (issue 12): `qv vm start` of the hello payload to
# the guest's first console byte in console.log, against
#  - the KVM floor (bench/kvm_floor: the same KVM objects, a stub printing
#    one byte), started the same way, and
#  - QEMU starting the same payload (-kernel, -serial file:), with
#    -accel kvm and with -accel tcg.
# Each is spawned by bench/first_byte (one small dynamically linked
# launcher that polls the file for its first byte), interleaved, RUNS times;
# medians are printed with the ratios and their targets. Beside them, what
# a process of this design pays before doing anything: bench/lib_floor
# (linked with the libraries DESIGN.md mandates, printing one byte), and
# `qv --version` and `qv-vmm --version`.
# Usage: bench/session_first_byte.sh BUILD_DIR [RUNS]
set -euo pipefail
build=$(cd "${1:?usage: session_first_byte.sh BUILD_DIR [RUNS]}" && pwd)
runs=${2:-11}
qv=$build/tools/qv/qv
fb=$build/bench/first_byte
floor=$build/bench/kvm_floor
hello=$build/tests/guests/hello.elf
export QV_VMM=$build/tools/qv-vmm/qv-vmm
for f in "$qv" "$fb" "$floor" "$hello" "$QV_VMM" "$build/bench/lib_floor"; do
    [ -x "$f" ] || [ -r "$f" ] || { echo "session_first_byte: $f is not built" >&2; exit 2; }
done
info=$("$qv" system info 2>/dev/null || true)
if ! grep -Eq '^KVM usable: +yes' <<<"$info"; then
    echo "session_first_byte: /dev/kvm is not usable here (try scripts/nested-kvm.sh)"
    exit 77
fi
dir=$(mktemp -d /tmp/qv-first-byte.XXXXXX)
uri="kvm:///session?root=$dir/s"
cleanup() {
    "$qv" -c "$uri" vm destroy fb >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT
mkdir -m 700 "$dir/s"
cat >"$dir/fb.xml" <<EOF
<domain type='kvm'><name>fb</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
<os><type arch='x86_64'>hvm</type><kernel>$hello</kernel></os></domain>
EOF
"$qv" -c "$uri" vm create --xml "$dir/fb.xml" >/dev/null
log=$dir/s/kvm/fb/console.log
qemu=(qemu-system-x86_64 -display none -nodefaults -no-reboot -m 64
      -device isa-debug-exit,iobase=0xf4,iosize=0x4 -kernel "$hello")

stopped() { # wait until hello has powered itself off
    for _ in $(seq 500); do
        [[ $("$qv" -c "$uri" vm show fb) =~ State:\ +stopped ]] && return 0
        sleep 0.02
    done
    echo "session_first_byte: the hello VM did not stop" >&2
    return 1
}

declare -a t_floor=() t_qv=() t_kvm=() t_tcg=() t_lib=() t_qvv=() t_vmmv=()
for ((i = 0; i < runs; i++)); do
    t_floor+=("$("$fb" --stdout "$dir/floor.out" 10000 -- "$floor")")
    # What qv's design pays before any work: processes that only load
    # libraries (lib_floor: those DESIGN.md mandates; qv and qv-vmm
    # themselves, --version).
    t_lib+=("$("$fb" --stdout "$dir/lib.out" 10000 -- "$build/bench/lib_floor")")
    t_qvv+=("$("$fb" --stdout "$dir/qvv.out" 10000 -- "$qv" --version)")
    t_vmmv+=("$("$fb" --stdout "$dir/vmmv.out" 10000 -- "$QV_VMM" --version)")
    t_qv+=("$("$fb" "$log" 20000 -- "$qv" -c "$uri" vm start fb)")
    stopped
    rm -f "$dir/qemu.out"
    t_kvm+=("$("$fb" "$dir/qemu.out" 30000 -- "${qemu[@]}" -accel kvm -serial "file:$dir/qemu.out" 2>/dev/null || echo fail)")
    rm -f "$dir/qemu.out"
    t_tcg+=("$("$fb" "$dir/qemu.out" 30000 -- "${qemu[@]}" -accel tcg -serial "file:$dir/qemu.out" 2>/dev/null || echo fail)")
done

median() { printf '%s\n' "$@" | { grep -v fail || true; } | sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "n/a"; else print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }
m_floor=$(median "${t_floor[@]}")
m_qv=$(median "${t_qv[@]}")
m_kvm=$(median "${t_kvm[@]}")
m_tcg=$(median "${t_tcg[@]}")
echo "== start to first console byte, median of $runs, interleaved ($(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%-40s %10s ms\n' "KVM floor (bench/kvm_floor)" "$m_floor"
printf '%-40s %10s ms\n' "qv vm start (kvm:///session)" "$m_qv"
printf '%-40s %10s ms\n' "qemu -accel kvm" "$m_kvm"
printf '%-40s %10s ms\n' "qemu -accel tcg" "$m_tcg"
m_lib=$(median "${t_lib[@]}")
m_qvv=$(median "${t_qvv[@]}")
m_vmmv=$(median "${t_vmmv[@]}")
echo "-- what processes of this design cost before any work (exec to first byte printed)"
printf '%-40s %10s ms\n' "lib_floor (glib, gio, json-glib, libxml2)" "$m_lib"
printf '%-40s %10s ms\n' "qv --version" "$m_qvv"
printf '%-40s %10s ms\n' "qv-vmm --version" "$m_vmmv"
awk -v q="$m_qv" -v f="$m_floor" -v l="$m_lib" -v a="$m_qvv" -v b="$m_vmmv" 'BEGIN {
    printf "%-40s %10.2fx the KVM floor\n", "two lib_floor processes", 2 * l / f
    printf "%-40s %10.2f ms (qv vm start less both)\n", "qv and qv-vmm loading, then", q - a - b
}'
best=$(printf '%s\n' "$m_kvm" "$m_tcg" | grep -v n/a | sort -g | head -n1)
awk -v q="$m_qv" -v f="$m_floor" -v b="${best:-0}" 'BEGIN {
    printf "%-40s %10.2fx (target: at most 1.5x)\n", "qv / floor", q / f
    if (b > 0) printf "%-40s %10.2fx (target: at least 5x)\n", "faster QEMU / qv", b / q
}'
echo "raw (ms): floor ${t_floor[*]}"
echo "raw (ms): qv    ${t_qv[*]}"
echo "raw (ms): kvm   ${t_kvm[*]}"
echo "raw (ms): tcg   ${t_tcg[*]}"
