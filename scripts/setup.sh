#!/usr/bin/env bash
# Installs every build, test and reference dependency (DESIGN §6) on Debian 12.
# Idempotent: packages already present are not fetched again.
set -euo pipefail

pkgs=(
    build-essential cmake pkg-config nasm
    libxml2-dev libxml2-utils libglib2.0-dev libjson-glib-dev libsoup-3.0-dev libssh-dev
    libvirt0 libvirt-clients libvirt-daemon libvirt-daemon-driver-qemu
    check qemu-system-x86 qemu-utils genisoimage ovmf
    python3-cffi python3-pytest busybox-static cpio
    valgrind
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
