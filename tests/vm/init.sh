#!/bin/busybox sh
# SPDX-License-Identifier: Apache-2.0
# /init of the test initramfs (tests/vm/lib.sh): busybox, the modules the model disk needs,
# then /scenario.sh (a second cpio appended per boot). Every line the host reads starts "CNVM ".
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /tmp /mnt && mount -t tmpfs tmpfs /tmp
while read -r m; do
	insmod "$m" || echo "CNVM fail insmod $m"
done </modules.load
echo "CNVM booted $(uname -r)"
[ -e /dev/fuse ] || mknod /dev/fuse c 10 229
if [ -x /scenario.sh ]; then
	/bin/sh /scenario.sh 2>&1
fi
echo "CNVM done"
sync
poweroff -f
