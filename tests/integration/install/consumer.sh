#!/usr/bin/env bash
# Install the build into a scratch prefix and build a consumer both ways.
set -euo pipefail
build=$1
src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

cmake --install "$build" --prefix "$prefix" >/dev/null
lib=$(ls "$prefix"/lib*/libqv.so.1 2>/dev/null || ls "$prefix"/lib/*/libqv.so.1)
libdir=$(dirname "$lib")
echo "installed: $lib"
test -f "$prefix/include/qv/qv.h"
soname=$(objdump -p "$lib" | awk '/SONAME/ {print $2}')
[ "$soname" = libqv.so.1 ] || { echo "SONAME is '$soname', want libqv.so.1"; exit 1; }
if [ -e "$build/tools/qv/qv" ]; then
    test -x "$prefix/bin/qv" || { echo "qv was not installed"; exit 1; }
fi
# qv-vmm goes next to qv, and runs from there.
if [ -e "$build/tools/qv-vmm/qv-vmm" ]; then
    "$prefix/bin/qv-vmm" --version | grep -q '^qv-vmm ' || { echo "qv-vmm was not installed"; exit 1; }
fi

export PKG_CONFIG_PATH=$libdir/pkgconfig
flags=$(pkg-config --cflags --libs qv)
echo "pkg-config: $flags"
# Sanitizer builds need the runtime on the consumer's link line too.
extra=$(grep -q 'QV_SANITIZE:STRING=.\+' "$build/CMakeCache.txt" && echo "-fsanitize=address,undefined" || true)
# shellcheck disable=SC2086
cc $extra -o "$work/consumer_pc" "$src/consumer.c" $flags
LD_LIBRARY_PATH=$libdir "$work/consumer_pc" | tee "$work/out"
grep -q '^state running$' "$work/out"

cmake -S "$src" -B "$work/cm" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_FLAGS="$extra" >/dev/null
cmake --build "$work/cm" >/dev/null
LD_LIBRARY_PATH=$libdir "$work/cm/consumer_cmake" | grep -q '^state running$'
echo "find_package(qv) consumer ran"
