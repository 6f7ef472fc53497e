#!/usr/bin/env bash
# Installs every build, test and reference dependency (DESIGN §6) on Debian 12.
# Idempotent: packages already present are not fetched again.
set -euo pipefail

pkgs=(
    build-essential cmake pkg-config nasm
    libxml2-dev libxml2-utils libglib2.0-dev libjson-glib-dev libsoup-3.0-dev libssh-dev
    libvirt0 libvirt-clients libvirt-daemon libvirt-daemon-driver-qemu
    check qemu-system-x86 qemu-utils genisoimage ovmf swtpm swtpm-tools tzdata
    python3-cffi python3-pytest busybox-static cpio openssh-server openssh-client
    valgrind strace
    clang libclang-rt-14-dev
    libslirp-dev libseccomp-dev
    xfsprogs
)

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "setup: need root to install: ${missing[*]}" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# libvirt 9.0 as Debian builds it looks up its default QEMU user before it
# reads qemu.conf, so the libvirt benchmark (bench/qemu_lifecycle.sh) needs
# 'libvirt-qemu' to exist; Debian makes it only in libvirt-daemon-system,
# which would also install and start the system daemons. A system account
# that cannot log in, as that package makes it.
if ! getent passwd libvirt-qemu >/dev/null; then
    if [ "$(id -u)" -eq 0 ]; then
        useradd --system --user-group --no-create-home --home-dir /var/lib/libvirt \
            --shell /usr/sbin/nologin --comment "libvirt QEMU user (qv setup)" libvirt-qemu
    else
        echo "setup: note: user libvirt-qemu is missing (needs root); bench/qemu_lifecycle.sh" \
            "then runs libvirt unprivileged" >&2
    fi
fi
