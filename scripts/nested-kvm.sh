#!/usr/bin/env bash
# Runs a command where /dev/kvm is real KVM, on a host that has none: inside
# a Linux guest (Debian's kernel, a busybox initramfs) that QEMU runs under
# TCG with an emulated AMD-V CPU (-cpu max carries svm and npt), so the
# guest's own kvm_amd module offers /dev/kvm. The guest mounts the host's
# root file system over virtio-9p (read-write, as root) and runs the command
# chrooted into it, in the current directory, so a build tree of this
# checkout runs unchanged. Everything the guest runs is emulated: expect it
# to be 10-50 times slower than on the host, and its timings to be ratios
# within one run only.
#
# Usage: scripts/nested-kvm.sh [--mem MIB] [--cpus N] -- COMMAND [ARG...]
# Exit status: the command's; 77 if the guest has no usable /dev/kvm; 124
# if the emulated machine stopped (no heartbeat for QV_NESTED_STALL s,
# default 60); 125 if the guest could not be built or did not report back.
# QV_NESTED_LOGLEVEL=N: the guest kernel's console log level (default 1;
# 7 shows its warnings, such as soft lockups, among the command's output).
set -euo pipefail

mem=4096
cpus=2
while [ $# -gt 0 ]; do
    case $1 in
    --mem) mem=$2; shift 2 ;;
    --cpus) cpus=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "usage: scripts/nested-kvm.sh [--mem MIB] [--cpus N] -- COMMAND [ARG...]" >&2; exit 2 ;;
    esac
done
[ $# -gt 0 ] || { echo "nested-kvm: no command given" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "nested-kvm: must run as root (the guest writes the host's files as root)" >&2; exit 2; }
qemu=$(command -v qemu-system-x86_64) || { echo "nested-kvm: qemu-system-x86_64 is missing" >&2; exit 125; }

# Bump when the init or the module list changes so old caches are rebuilt.
recipe=7
cache=${QV_NESTED_CACHE:-/var/cache/qv-tests/nested-r$recipe}

build_guest() {
    for tool in apt-cache apt-get dpkg-deb cpio gzip; do
        command -v "$tool" >/dev/null || { echo "nested-kvm: $tool is missing" >&2; return 1; }
    done
    [ -x /bin/busybox ] || { echo "nested-kvm: /bin/busybox is missing (package busybox-static)" >&2; return 1; }
    mkdir -p "$cache"
    local work
    work=$(mktemp -d "$cache/.build.XXXXXX")
    # shellcheck disable=SC2064
    trap "rm -rf '$work'" RETURN
    local pkg kver moddir root m
    pkg=$(apt-cache depends linux-image-amd64 | sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n1)
    [ -n "$pkg" ] || { echo "nested-kvm: cannot find the kernel package behind linux-image-amd64" >&2; return 1; }
    (cd "$work" && apt-get download "$pkg" >/dev/null 2>&1) ||
        { echo "nested-kvm: apt-get download $pkg failed" >&2; return 1; }
    dpkg-deb -x "$work"/"$pkg"_*.deb "$work/pkg"
    kver=${pkg#linux-image-}
    moddir="$work/pkg/lib/modules/$kver/kernel"
    root="$work/root"
    mkdir -p "$root/bin" "$root/proc" "$root/sys" "$root/dev" "$root/host" "$root/lib/modules"
    cp /bin/busybox "$root/bin/busybox"
    for m in virt/lib/irqbypass.ko arch/x86/kvm/kvm.ko drivers/crypto/ccp/ccp.ko arch/x86/kvm/kvm-amd.ko \
             drivers/virtio/virtio.ko drivers/virtio/virtio_ring.ko drivers/virtio/virtio_pci_legacy_dev.ko \
             drivers/virtio/virtio_pci_modern_dev.ko drivers/virtio/virtio_pci.ko net/9p/9pnet.ko \
             net/9p/9pnet_virtio.ko fs/netfs/netfs.ko fs/fscache/fscache.ko fs/9p/9p.ko; do
        [ -f "$moddir/$m" ] || { echo "nested-kvm: module $m is not in $pkg" >&2; return 1; }
        cp "$moddir/$m" "$root/lib/modules/"
    done
    cat > "$root/init" <<'EOS'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# No modules.dep here: retry until every module's dependencies are in.
pending="irqbypass kvm ccp kvm-amd virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev
         virtio_pci 9pnet 9pnet_virtio netfs fscache 9p"
for pass in 1 2 3 4 5; do
    left=""
    for m in $pending; do insmod /lib/modules/$m.ko 2>/dev/null || left="$left $m"; done
    pending=$left
done
report() { echo "$1" > /host/"$job"/rc; sync; poweroff -f; }
job=$(sed -n 's/.*qv\.nested=\([^ ]*\).*/\1/p' /proc/cmdline)
# cache=loose: one inode per file, as on a local file system (without it
# 9p makes a new inode at each lookup, and Landlock's rules, which hold
# inodes, would match nothing).
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,access=any,cache=loose host /host ||
    { echo "nested-kvm: cannot mount the host's root"; poweroff -f; }
for m in $pending; do echo "nested-kvm: cannot load module $m"; done
[ -c /dev/kvm ] || { echo "nested-kvm: the guest has no /dev/kvm"; report 77; }
ip link set lo up
mkdir -p /dev/pts /dev/shm
mount -t devpts -o mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
for d in proc sys dev; do mount -o rbind /$d /host/$d; done
# The guest's /tmp is its own (sockets and scratch files of the tests
# stay off 9p), but a command run from under the host's /tmp (a checkout
# in /tmp/X) keeps /tmp/X.
cwd=$(tr '\0' '\n' < /host/"$job"/argv | head -n 1)
keep=$(echo "$cwd" | sed -n 's|^\(/tmp/[^/]*\).*|\1|p')
if [ -n "$keep" ]; then mkdir -p /keep && mount -o bind /host"$keep" /keep; fi
mount -t tmpfs -o mode=1777 tmpfs /host/tmp
if [ -n "$keep" ]; then mkdir -p /host"$keep" && mount -o bind /keep /host"$keep"; fi
mount -t tmpfs -o mode=755 tmpfs /host/run
mkdir -p /host/run/user
# The job directory holds the command's argv (NUL-separated, its first
# element the directory to run it in) and its environment; no shell ever
# reads the arguments as text.
# A heartbeat on the second serial port, which the host watches: QEMU's
# emulated AMD-V now and then stops the whole machine, and a stopped
# machine must be told from a slow test.
(while :; do echo . > /dev/ttyS1; sleep 5; done) &
# Through a pipe: a program writing straight to the serial console can stall
# on it (ctest did).
set -o pipefail
chroot /host /usr/bin/env -i $(cat /host/"$job"/env) \
    /usr/bin/xargs -0 -a /"$job"/argv /bin/sh -c 'j=$0; cd "$1" || exit; shift; "$@"; echo $? > "$j/rc"' \
    /"$job" </dev/null 2>&1 | cat
rc=$(cat /host/"$job"/rc 2>/dev/null)
report "${rc:-125}"
EOS
    chmod 755 "$root/init"
    (cd "$root" && find . | cpio -o -H newc 2>/dev/null | gzip -1) > "$work/initrd.img"
    cp "$work/pkg/boot/vmlinuz-$kver" "$work/vmlinuz"
    mv "$work/vmlinuz" "$cache/vmlinuz"
    mv "$work/initrd.img" "$cache/initrd.img"
    echo "$recipe" > "$cache/recipe"
}

if ! { [ -s "$cache/vmlinuz" ] && [ -s "$cache/initrd.img" ] &&
       [ "$(cat "$cache/recipe" 2>/dev/null)" = "$recipe" ]; }; then
    build_guest || exit 125
fi

# The job directory lives on the host's disk (the guest's /tmp is its own).
mkdir -p /var/tmp/qv-nested
job=$(mktemp -d /var/tmp/qv-nested/job.XXXXXX)
trap 'rm -rf "$job"' EXIT
{ printf '%s\0' "$PWD"; printf '%s\0' "$@"; } > "$job/argv"
# Only plain NAME=VALUE words without spaces cross; the rest is dropped.
for v in PATH HOME LANG TERM CI QV_TEST_SKIP_SLOW CTEST_OUTPUT_ON_FAILURE; do
    val=${!v-}
    [ -n "$val" ] && [[ $val != *[[:space:]]* ]] && printf '%s=%s\n' "$v" "$val" >> "$job/env"
done
echo "QV_NESTED_KVM=1" >> "$job/env"

"$qemu" -accel tcg -cpu max -smp "$cpus" -m "$mem" -nodefaults -display none -no-reboot \
    -chardev stdio,id=con,signal=off -serial chardev:con \
    -chardev file,id=beat,path="$job/beat" -serial chardev:beat \
    -kernel "$cache/vmlinuz" -initrd "$cache/initrd.img" \
    -append "console=ttyS0 quiet loglevel=${QV_NESTED_LOGLEVEL:-1} panic=-1 qv.nested=${job#/}" \
    -virtfs local,path=/,mount_tag=host,security_model=passthrough,multidevs=remap,id=host </dev/null &
vm=$!
# No heartbeat for QV_NESTED_STALL seconds (the first may take longer: the
# guest boots) means the emulated machine stopped: it is ended and the run
# reported as such (124), apart from a command that fails.
stall=${QV_NESTED_STALL:-60}
last=0 quiet=0
while kill -0 "$vm" 2>/dev/null; do
    sleep 5
    now=$(stat -c %s "$job/beat" 2>/dev/null || echo 0)
    if [ "$now" != "$last" ]; then last=$now quiet=0; else quiet=$((quiet + 5)); fi
    if [ "$quiet" -ge $(( last == 0 ? stall * 3 : stall )) ]; then
        kill "$vm" 2>/dev/null
        wait "$vm" 2>/dev/null || true
        echo "nested-kvm: the emulated machine stopped (no heartbeat for $quiet s)" >&2
        exit 124
    fi
done
wait "$vm" || true

rc=$(cat "$job/rc" 2>/dev/null || true)
[ -n "$rc" ] || { echo "nested-kvm: the guest did not report the command's status" >&2; exit 125; }
exit "$rc"
