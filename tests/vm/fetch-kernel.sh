#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Fetches Debian 12's kernel package (linux-image-6.1.*-amd64) with `apt-get download` and
# unpacks it with `dpkg-deb -x` (nothing is installed) into CACHE_DIR/kernel, once. Prints the
# unpacked root. Exit 1 with a one-line reason when apt cannot get it.
set -euo pipefail
cache=${1:?usage: fetch-kernel.sh CACHE_DIR}
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock -w 900 9 || { echo "fetch-kernel: cannot lock $cache" >&2; exit 1; }
if [ -f "$cache/kernel/.done" ]; then
	echo "$cache/kernel"
	exit 0
fi
find_pkg() {
	pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-6\.1\.[0-9.-]*-amd64\)$/\1/p' | head -n1)
	if [ -z "$pkg" ]; then
		pkg=$(apt-cache search --names-only '^linux-image-6\.1\.[0-9.-]*-amd64$' 2>/dev/null |
			awk '{print $1}' | sort -V | tail -n1)
	fi
}
find_pkg
# A fresh machine may have no package lists yet.
if [ -z "$pkg" ] && [ "$(id -u)" = 0 ]; then
	apt-get -o DPkg::Lock::Timeout=600 update -qq >&2 || true
	find_pkg
fi
[ -n "$pkg" ] || { echo "fetch-kernel: apt knows no linux-image-6.1.*-amd64 (run apt-get update)" >&2; exit 1; }
rm -rf "$cache/dl" "$cache/kernel.tmp"
mkdir -p "$cache/dl" "$cache/kernel.tmp"
(cd "$cache/dl" && apt-get download -q "$pkg" >&2) ||
	{ echo "fetch-kernel: apt-get download $pkg failed" >&2; exit 1; }
dpkg-deb -x "$cache"/dl/"$pkg"_*.deb "$cache/kernel.tmp"
# The package does not ship modules.dep (depmod runs at install): make it here.
kver=$(ls "$cache/kernel.tmp/lib/modules")
depmod -b "$cache/kernel.tmp" "$kver"
rm -rf "$cache/dl" "$cache/kernel"
mv "$cache/kernel.tmp" "$cache/kernel"
echo "$pkg" > "$cache/kernel/.done"
echo "$cache/kernel"
