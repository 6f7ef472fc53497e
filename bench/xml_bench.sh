#!/bin/sh
# Parse + format time per document, for each corpus: tests/data/xml/libvirt
# (virsh dumpxml output, inactive documents) and tests/data/xml/virtinst
# (virt-install --print-xml output). qv (conf_xml_bench: schema check,
# parse, format) against libvirt 9.0's `virsh define` + `dumpxml` +
# `undefine` in its embedded QEMU driver, all documents of a corpus in one
# virsh process (its start-up measured apart and subtracted). Prints both
# and the ratio. Documents libvirt itself refuses here (a <tpm> emulator
# without swtpm) are left out of both sides. Needs virsh (skips without).
set -eu
bench=${1:?usage: xml_bench.sh PATH/TO/conf_xml_bench [ROUNDS]}
rounds=${2:-20}
here=$(cd "$(dirname "$0")" && pwd)
command -v virsh >/dev/null || { echo "SKIP: virsh is not installed"; exit 77; }

root=$(mktemp -d /tmp/qv-xml-bench.XXXXXX)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/etc"
printf 'stdio_handler = "file"\nsecurity_driver = "none"\n' >"$root/etc/qemu.conf"
uri="qemu:///embed?root=$root"
now_us() { echo $(($(date +%s%N) / 1000)); }
name_of() { sed -n 's|.*<name>\(.*\)</name>.*|\1|p' "$1" | head -1; }

one_corpus() {
    label=$1
    shift
    files=""
    for f in "$@"; do
        name=$(name_of "$f")
        if virsh -q -c "$uri" "define $f; undefine $name" >/dev/null 2>&1; then
            files="$files $f"
        else
            echo "($label: libvirt refuses $(basename "$f") here; left out)"
        fi
    done
    n=$(echo $files | wc -w)
    qv_us=$("$bench" "$rounds" $files)
    cmds=""
    for f in $files; do
        name=$(name_of "$f")
        cmds="$cmds define $f; dumpxml $name; undefine $name;"
    done
    t0=$(now_us); virsh -q -c "$uri" "uri" >/dev/null; t1=$(now_us)
    virsh -q -c "$uri" "$cmds" >/dev/null; t2=$(now_us)
    virsh_us=$(( ( (t2 - t1) - (t1 - t0) ) / n ))
    echo "$label: $n documents"
    echo "  qv parse+schema+format: ${qv_us} us per document"
    echo "  virsh define+dumpxml+undefine: ${virsh_us} us per document (virsh start-up $((t1 - t0)) us subtracted)"
    awk -v a="$virsh_us" -v b="$qv_us" 'BEGIN { printf "  ratio (virsh / qv): %.1f\n", a / b }'
}

one_corpus "libvirt corpus (inactive)" $(ls "$here"/../tests/data/xml/libvirt/*.xml | grep -v '\.live\.xml$')
one_corpus "virt-install corpus" "$here"/../tests/data/xml/virtinst/*.xml
