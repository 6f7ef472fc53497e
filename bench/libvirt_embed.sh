# Sourced by the benchmarks that run libvirt beside qv: a work directory
# and the user both tools run as, on the same qemu-system-x86_64.
#
# libvirt 9.0 as Debian builds it resolves its default QEMU user
# 'libvirt-qemu' before it reads qemu.conf, and that user only exists with
# libvirt-daemon-system installed. So when the user is missing, both tools
# run as 'nobody' (libvirt's unprivileged mode, no user switch), with
# qemu.conf giving stdio_handler = "file" and security_driver = "none";
# with the user present and run as root, qemu.conf also sets user and
# group root.
#
# lv_setup QV_BINARY [EXTRA_BINARY] sets: work (removed on exit), run (the
# command prefix), mode (said in the output), qv and extra (the binaries
# to run, copied where 'nobody' can reach them), qemu, lv_uri, qv_uri.
lv_setup() {
    qv=$(readlink -f "${1:?lv_setup: no qv binary}")
    extra=${2:-}
    [ -z "$extra" ] || extra=$(readlink -f "$extra")
    command -v virsh >/dev/null || { echo "virsh is missing (package libvirt-clients)" >&2; exit 1; }
    qemu=$(command -v qemu-system-x86_64) || { echo "qemu-system-x86_64 is missing" >&2; exit 1; }
    work=$(mktemp -d /tmp/qv-bench-qemu.XXXXXX)
    trap 'rm -rf "$work"' EXIT
    chmod 755 "$work"
    mkdir -p "$work/libvirt/etc" "$work/qv"
    local conf="$work/libvirt/etc/qemu.conf"
    printf 'stdio_handler = "file"\nsecurity_driver = "none"\n' > "$conf"
    run=()
    if [ "$(id -u)" -eq 0 ] && getent passwd libvirt-qemu >/dev/null; then
        printf 'user = "root"\ngroup = "root"\n' >> "$conf"
        mode="root"
    elif [ "$(id -u)" -eq 0 ]; then
        # nobody may not reach the build tree: run copies.
        mkdir -p "$work/bin"
        cp "$qv" "$work/bin/qv"
        cp -L "$(dirname "$(ldd "$qv" | sed -n 's/.*libqv.so.1 => \(.*\) (.*/\1/p')")/libqv.so.1" "$work/bin/"
        qv="$work/bin/qv"
        if [ -n "$extra" ]; then cp "$extra" "$work/bin/"; extra="$work/bin/$(basename "$extra")"; fi
        export LD_LIBRARY_PATH="$work/bin${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
        chown -R nobody:nogroup "$work"
        run=(setpriv --reuid=nobody --regid=nogroup --clear-groups env HOME="$work"
             LD_LIBRARY_PATH="$LD_LIBRARY_PATH")
        mode="unprivileged (as nobody: user libvirt-qemu does not exist)"
    else
        mode="unprivileged"
    fi
    lv_uri="qemu:///embed?root=$work/libvirt"
    qv_uri="qemu:///session?root=$work/qv"
}

now() { date +%s%N; }
div() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a / b }'; }
