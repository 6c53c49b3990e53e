#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Booting a real Linux guest under QEMU (TCG) for the guest-side tests and bench/model-mount
# (sourced). The kernel is Debian 12's linux-image-6.1.*-amd64, fetched once into the build
# dir with apt-get download and unpacked with dpkg-deb -x (tests/vm/fetch-kernel.sh). The
# initramfs is busybox-static + cocoon and its shared libraries (ldd) + the modules the model
# disk needs (virtio_pci, virtio_blk, dm-mod, dm-bufio, dm-verity, fuse and what modules.dep
# says they need) + tests/vm/init.sh as /init; each boot appends a small cpio with its
# /scenario.sh. Disks are read-only virtio-blk with a serial, like the launcher attaches them.
set -euo pipefail
: "${COCOON:?}" "${CN_BUILD_DIR:?}" "${CN_SOURCE_DIR:?}"
VM_DIR="$CN_SOURCE_DIR/tests/vm"
VM_CACHE="${CN_VM_CACHE:-$CN_BUILD_DIR/vm-cache}"
VM_TIMEOUT="${CN_VM_TIMEOUT:-900}"
VM_MODULES="virtio_pci virtio_blk dm-mod dm-bufio dm-verity fuse"
QEMU="${CN_QEMU:-qemu-system-x86_64}"

vm_fail() { echo "FAIL: $*" >&2; exit 1; }
vm_skip() { echo "SKIP: $*" >&2; exit 77; }

# Skips only where QEMU cannot run at all; anything else missing is a failure.
vm_check_host() {
	command -v "$QEMU" >/dev/null || vm_skip "no $QEMU (install qemu-system-x86)"
	"$QEMU" -machine help >/dev/null 2>&1 || vm_skip "$QEMU does not run here"
	VM_BUSYBOX=$(command -v busybox || true)
	[ -n "$VM_BUSYBOX" ] || vm_fail "no busybox (install busybox-static)"
	if ldd "$VM_BUSYBOX" >/dev/null 2>&1; then vm_fail "$VM_BUSYBOX is not static (install busybox-static)"; fi
	command -v cpio >/dev/null || vm_fail "no cpio (install cpio)"
	command -v depmod >/dev/null || [ -x /usr/sbin/depmod ] || vm_fail "no depmod (install kmod)"
}

# Copies an executable and every library ldd names (same paths) into root $1.
vm_copy_exe() {
	local root=$1 src=$2 dst=$3 lib
	mkdir -p "$root/$(dirname "$dst")"
	cp -L "$src" "$root/$dst"
	for lib in $(ldd "$src" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'); do
		[ -e "$root/$lib" ] || { mkdir -p "$root/$(dirname "$lib")"; cp -L "$lib" "$root/$lib"; }
	done
}

# Module closure in load order (dependencies first) from modules.dep.
vm_module_order() {
	local kdir=$1; shift
	awk -v want="$*" '
	  BEGIN { n = split(want, w, " ") }
	  { f = $1; sub(/:$/, "", f); deps[f] = ""; for (i = 2; i <= NF; i++) deps[f] = deps[f] " " $i
	    b = f; sub(/.*\//, "", b); sub(/\.ko(\..*)?$/, "", b); gsub(/_/, "-", b); byname[b] = f }
	  function add(f,   d, k, i) { if (f in seen) return; seen[f] = 1
	    k = split(deps[f], d, " "); for (i = 1; i <= k; i++) add(d[i]); print f }
	  END { for (i = 1; i <= n; i++) { b = w[i]; gsub(/_/, "-", b)
	    if (!(b in byname)) { print "missing module " w[i] > "/dev/stderr"; exit 1 } add(byname[b]) } }
	' "$kdir/modules.dep"
}

# vm_prepare [EXTRA_EXE | SRC=GUEST_PATH...]: sets VM_KERNEL and VM_INITRD (base cpio, built
# once per cocoon). EXTRA_EXE goes to /usr/bin; SRC=GUEST_PATH (e.g. a library) to GUEST_PATH;
# both with the libraries ldd names.
vm_prepare() {
	local kroot kver kdir root m exe lib
	vm_check_host
	kroot=$("$VM_DIR/fetch-kernel.sh" "$VM_CACHE") || vm_fail "cannot fetch the Debian kernel package"
	kver=$(ls "$kroot/lib/modules")
	kdir="$kroot/lib/modules/$kver"
	VM_KERNEL="$kroot/boot/vmlinuz-$kver"
	[ -f "$VM_KERNEL" ] || vm_fail "no $VM_KERNEL in the kernel package"
	root=$(mktemp -d "$VM_CACHE/root.XXXXXX")
	mkdir -p "$root"/{bin,sbin,dev,proc,sys,run,tmp,mnt,etc,usr/bin}
	cp "$VM_BUSYBOX" "$root/bin/busybox"
	cp "$VM_DIR/init.sh" "$root/init"
	chmod 755 "$root/init"
	vm_copy_exe "$root" "$COCOON" /usr/bin/cocoon
	# What cocoon opens at its first use rather than links (ldd does not name it): the model
	# mount's libcryptsetup, with the libraries it needs.
	for exe in libcryptsetup.so.12; do
		lib=$(/sbin/ldconfig -p | awk -v l="$exe" '$1 == l && $NF ~ /^\// {print $NF; exit}')
		[ -n "$lib" ] || vm_fail "$exe not found (install libcryptsetup12)"
		vm_copy_exe "$root" "$lib" "$lib"
	done
	for exe in "$@"; do
		case "$exe" in
		*=/*) vm_copy_exe "$root" "${exe%%=*}" "${exe#*=}" ;;
		*) vm_copy_exe "$root" "$exe" "/usr/bin/$(basename "$exe")" ;;
		esac
	done
	if command -v fusermount3 >/dev/null; then vm_copy_exe "$root" "$(command -v fusermount3)" /usr/bin/fusermount3; fi
	: >"$root/modules.load"
	for m in $(vm_module_order "$kdir" $VM_MODULES); do
		mkdir -p "$root/lib/modules/$kver/$(dirname "$m")"
		cp "$kdir/$m" "$root/lib/modules/$kver/$m"
		echo "/lib/modules/$kver/$m" >>"$root/modules.load"
	done
	VM_INITRD="$VM_CACHE/base-$$.cpio"
	(cd "$root" && find . | cpio -o -H newc --quiet) >"$VM_INITRD"
	rm -rf "$root"
}

# vm_boot LOG SCENARIO [FILE:SERIAL...]: boots with SCENARIO as /scenario.sh (plus any files in
# the folder $VM_EXTRA_DIR under /extra), the disks read-only, $VM_APPEND added to the kernel
# command line; the console goes to LOG. The guest's clock is the host's (QEMU's RTC).
vm_boot() {
	local log=$1 scenario=$2 sroot initrd d file serial i=0 rc=0
	shift 2
	local args=()
	for d in "$@"; do
		file=${d%:*}; serial=${d##*:}
		args+=(-drive "file=$file,format=raw,if=none,id=d$i,readonly=on,cache=none"
		       -device "virtio-blk-pci,drive=d$i,serial=$serial")
		i=$((i + 1))
	done
	sroot=$(mktemp -d "$VM_CACHE/scenario.XXXXXX")
	cp "$scenario" "$sroot/scenario.sh"; chmod 755 "$sroot/scenario.sh"
	if [ -n "${VM_EXTRA_DIR:-}" ]; then cp -r "$VM_EXTRA_DIR" "$sroot/extra"; fi
	initrd="$sroot.cpio"
	cp "$VM_INITRD" "$initrd"
	(cd "$sroot" && find . -mindepth 1 | cpio -o -H newc --quiet) >>"$initrd"
	timeout -k 10 "$VM_TIMEOUT" "$QEMU" -machine pc -accel tcg -cpu max -m 1024 -smp 2 \
		-nodefaults -no-reboot -display none -serial "file:$log" \
		-kernel "$VM_KERNEL" -initrd "$initrd" \
		-append "console=ttyS0 panic=-1 loglevel=4 rdinit=/init${VM_APPEND:+ $VM_APPEND}" "${args[@]}" </dev/null || rc=$?
	rm -rf "$sroot" "$initrd"
	if [ -f "$log" ]; then tr -d '\r' <"$log" >"$log.lf" && mv "$log.lf" "$log"; fi
	[ $rc = 124 ] && vm_fail "the guest did not finish within ${VM_TIMEOUT}s (log: $log)"
	[ $rc = 0 ] || vm_fail "$QEMU exited $rc (log: $log)"
	grep -q '^CNVM booted' "$log" || vm_fail "the guest did not boot: $(tail -5 "$log")"
	grep -q '^CNVM done' "$log" || vm_fail "the guest did not finish its scenario: $(tail -5 "$log")"
}
