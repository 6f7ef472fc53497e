#!/bin/bash
# The remote driver against local: noop and qemu, locally, through a helper
# on a pipe, and through SSH to an sshd this script starts on 127.0.0.1 with
# its own host key and authorized_keys (stopped on exit); then libvirt's
# virsh -c qemu+ssh://.../system through the same sshd to a libvirtd (and
# virtlogd) started here by hand. Needs root (sshd logs in as root here)
# and /usr/sbin/sshd.
# Usage: bench/remote_bench.sh BUILD/bench/remote_bench BUILD/tools/qv/qv [CYCLES]
set -euo pipefail
bench=$1 qv=$2 cycles=${3:-5}
[ -x /usr/sbin/sshd ] || { echo "remote_bench: /usr/sbin/sshd is missing (openssh-server)"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "remote_bench: run as root (the test sshd logs in as root)"; exit 1; }
dir=$(mktemp -d /tmp/qv-remote-bench.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
mkdir -p /run/sshd "$dir/noop" "$dir/qemu"
ssh-keygen -q -t ed25519 -N '' -f "$dir/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$dir/client_key"
cp "$dir/client_key.pub" "$dir/authorized_keys"
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$dir/host_key.pub")" > "$dir/known_hosts"
cat > "$dir/sshd_config" <<CONF
Port $port
ListenAddress 127.0.0.1
HostKey $dir/host_key
AuthorizedKeysFile $dir/authorized_keys
PidFile $dir/sshd.pid
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
CONF
/usr/sbin/sshd -D -e -f "$dir/sshd_config" 2>"$dir/sshd.log" &
pid=$!
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
ssh="keyfile=$dir/client_key&known_hosts=$dir/known_hosts&qv=$qv"
echo "remote_bench: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
"$bench" "noop://$dir/noop" test "$cycles"
"$bench" "noop+pipe://$dir/noop?qv=$qv" test "$cycles"
"$bench" "noop+ssh://127.0.0.1:$port$dir/noop?$ssh" test "$cycles"
if command -v qemu-system-x86_64 >/dev/null; then
    "$bench" "qemu:///session?root=$dir/qemu" qemu "$cycles" 200
    "$bench" "qemu+ssh://127.0.0.1:$port/session?$ssh&root=$dir/qemu" qemu "$cycles" 200
else
    echo "remote_bench: qemu-system-x86_64 is missing: qemu rows skipped"
fi

# libvirt through the same sshd: virsh -c qemu+ssh://root@127.0.0.1:PORT/system
# against a libvirtd this script starts by hand (no systemd here) in its
# default system setup, and stops on exit. libvirt's ssh transport runs the
# ssh binary; command= points it at a wrapper so that it trusts this sshd's
# key from our known_hosts and logs in with our key, without ~/.ssh.
lv_skip() { echo "remote_bench: libvirt comparison not run: $*"; exit 0; }
command -v virsh >/dev/null || lv_skip "virsh is missing (package libvirt-clients)"
command -v libvirtd >/dev/null || lv_skip "libvirtd is missing (package libvirt-daemon-system)"
command -v virt-ssh-helper >/dev/null || lv_skip "virt-ssh-helper is missing (package libvirt-daemon)"
command -v qemu-system-x86_64 >/dev/null || lv_skip "qemu-system-x86_64 is missing"
if pgrep -x libvirtd >/dev/null || [ -e /run/libvirt/libvirt-sock ]; then
    lv_skip "a libvirtd already runs (or left /run/libvirt/libvirt-sock); not touching it"
fi
command -v virtlogd >/dev/null || lv_skip "virtlogd is missing (package libvirt-daemon)"
pgrep -x virtlogd >/dev/null && lv_skip "a virtlogd already runs; not touching it"
# virtlogd keeps the guests' console logs (qemu.conf's default stdio_handler).
lv_stop() {
    for d in libvirtd virtlogd; do
        [ -s "$dir/$d.pid" ] && kill "$(cat "$dir/$d.pid")" 2>/dev/null
    done
    for _ in $(seq 50); do [ -e /run/libvirt/libvirt-sock ] || break; sleep 0.1; done
}
trap 'lv_stop; cleanup' EXIT
LIBVIRT_LOG_OUTPUTS="3:file:$dir/libvirtd.log" \
    virtlogd --daemon --pid-file "$dir/virtlogd.pid" 2>>"$dir/libvirtd.log" ||
    lv_skip "virtlogd did not start: $(tail -1 "$dir/libvirtd.log")"
LIBVIRT_LOG_OUTPUTS="3:file:$dir/libvirtd.log" \
    libvirtd --daemon --pid-file "$dir/libvirtd.pid" 2>>"$dir/libvirtd.log" ||
    lv_skip "libvirtd did not start: $(tail -1 "$dir/libvirtd.log")"
for _ in $(seq 100); do [ -S /run/libvirt/libvirt-sock ] && break; sleep 0.1; done
[ -S /run/libvirt/libvirt-sock ] || lv_skip "libvirtd made no /run/libvirt/libvirt-sock"
cat > "$dir/ssh" <<SSH
#!/bin/sh
exec ssh -F none -o UserKnownHostsFile=$dir/known_hosts -o StrictHostKeyChecking=yes \
    -o IdentitiesOnly=yes "\$@"
SSH
chmod 755 "$dir/ssh"
lv_uri="qemu+ssh://root@127.0.0.1:$port/system?keyfile=$dir/client_key&command=$dir/ssh"
lv_xml="$dir/lv.xml"
cat > "$lv_xml" <<XML
<domain type='qemu'><name>rbench-lv</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='pc'>hvm</type></os></domain>
XML
now() { date +%s%N; }
# One virsh process (one SSH connection) for the five commands: libvirt's
# best case, as bench/qemu_lifecycle.sh measures it locally.
lv_cycle() {
    out=$(virsh -q -c "$lv_uri" "define $lv_xml; start rbench-lv; domstate rbench-lv; \
destroy rbench-lv; undefine rbench-lv" 2>&1)
    grep -q '^running' <<<"$out" || { echo "remote_bench: virsh failed: $out" >&2; exit 1; }
}
lv_cycle # warm up: libvirtd probes QEMU's capabilities on first use
t=$(now); for ((i = 0; i < cycles; i++)); do lv_cycle; done
cycle_ms=$(awk -v ns=$(( $(now) - t )) -v n="$cycles" 'BEGIN { printf "%.1f", ns / n / 1e6 }')
# domstate round trip: 1001 against 1 in one virsh process each, so the
# connection and virsh's own start-up cancel out; the best of three of
# each, since one SSH connect alone varies by more than 200 round trips.
virsh -q -c "$lv_uri" "define $lv_xml; start rbench-lv" >/dev/null
states() { yes "domstate rbench-lv" | head -n "$1" | paste -sd';' -; }
best() {
    local b= d t
    for _ in 1 2 3; do
        t=$(now); virsh -q -c "$lv_uri" "$(states "$1")" >/dev/null; d=$(( $(now) - t ))
        if [ -z "$b" ] || [ "$d" -lt "$b" ]; then b=$d; fi
    done
    echo "$b"
}
one=$(best 1)
many=$(best 1001)
virsh -q -c "$lv_uri" "destroy rbench-lv; undefine rbench-lv" >/dev/null
state_us=$(awk -v d=$(( many - one )) 'BEGIN { printf "%.1f", d / 1000 / 1e3 }')
one_ms=$(awk -v ns="$one" 'BEGIN { printf "%.1f", ns / 1e6 }')
printf '%-34s virsh with 1 domstate %8s ms  cycle %8s ms (mean of %d, 1 virsh process each, connect included)  domstate %8s us (mean of 1000)\n' \
    "virsh qemu+ssh://127.0.0.1/system" "$one_ms" "$cycle_ms" "$cycles" "$state_us"
