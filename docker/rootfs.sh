#!/bin/sh
# Assembles the image's whole filesystem in DIR from a dynarock binary: the binary (stripped), the
# shared libraries it loads (the C and C++ runtimes RocksDB needs, as ldd lists them), /data owned
# by the unprivileged user 10001, and /tmp. The image is `FROM scratch` with this tree and nothing
# else; compat-tests/test_image.py runs the same tree under chroot.
#
#   docker/rootfs.sh BINARY DIR
set -eu
binary=$1
root=$2
mkdir -p "$root/usr/local/bin" "$root/data" "$root/tmp"
cp "$binary" "$root/usr/local/bin/dynarock"
strip "$root/usr/local/bin/dynarock" 2>/dev/null || true
for lib in $(ldd "$binary" | awk '/=>/ { print $3 } /^\t\// { print $1 }'); do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
chown 10001:10001 "$root/data"
chmod 1777 "$root/tmp"
