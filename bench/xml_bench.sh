#!/bin/sh
# Parse + format time per document of tests/data/xml/libvirt: qv
# (conf_xml_bench: schema check, parse, format) against libvirt 9.0's
# `virsh define` + `dumpxml` + `undefine` in its embedded QEMU driver, all
# documents in one virsh process (its start-up measured apart and
# subtracted). Prints both and the ratio. Needs virsh (skips without).
set -eu
bench=${1:?usage: xml_bench.sh PATH/TO/conf_xml_bench [ROUNDS]}
rounds=${2:-20}
here=$(cd "$(dirname "$0")" && pwd)
corpus=$here/../tests/data/xml/libvirt
command -v virsh >/dev/null || { echo "SKIP: virsh is not installed"; exit 77; }
files=$(ls "$corpus"/*.xml | grep -v '\.live\.xml$')
n=$(echo "$files" | wc -l)
qv_us=$("$bench" "$rounds" $files)

root=$(mktemp -d /tmp/qv-xml-bench.XXXXXX)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/etc"
printf 'stdio_handler = "file"\nsecurity_driver = "none"\n' >"$root/etc/qemu.conf"
uri="qemu:///embed?root=$root"
cmds=""
for f in $files; do
    name=$(sed -n 's|.*<name>\(.*\)</name>.*|\1|p' "$f" | head -1)
    cmds="$cmds define $f; dumpxml $name; undefine $name;"
done
now_us() { echo $(($(date +%s%N) / 1000)); }
t0=$(now_us); virsh -q -c "$uri" "uri" >/dev/null; t1=$(now_us)
virsh -q -c "$uri" "$cmds" >/dev/null; t2=$(now_us)
virsh_us=$(( ( (t2 - t1) - (t1 - t0) ) / n ))
echo "documents: $n (inactive corpus)"
echo "qv parse+schema+format: ${qv_us} us per document"
echo "virsh define+dumpxml+undefine: ${virsh_us} us per document (virsh start-up $((t1 - t0)) us subtracted)"
awk -v a="$virsh_us" -v b="$qv_us" 'BEGIN { printf "ratio (virsh / qv): %.1f\n", a / b }'
