#!/bin/bash
# The remote driver against local: noop and qemu, locally, through a helper
# on a pipe, and through SSH to an sshd this script starts on 127.0.0.1 with
# its own host key and authorized_keys (stopped on exit). Needs root (sshd
# logs in as root here) and /usr/sbin/sshd.
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
if command -v virsh >/dev/null; then
    echo "remote_bench: libvirt comparison not run: it needs a libvirtd started by hand with"
    echo "  its own config and socket; not done in this script"
fi
