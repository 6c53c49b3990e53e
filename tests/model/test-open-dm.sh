#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Real activation with device-mapper (root, dm-verity): the device reads back the tar, and a
# corrupted block gives EIO. Skipped (77) where device-mapper is not available (CI VMs).
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root"
[ -e /dev/mapper/control ] || skip "no device-mapper (/dev/mapper/control)"
command -v losetup >/dev/null || skip "no losetup"
S=$WORK/src; mkdir -p $S; head -c 300000 /dev/urandom > $S/model.bin
line=$("$COCOON" model build -q --from-dir $S --images-dir $WORK/img o/m@c)
T=${line#* }; R=$(cat $T.hash); NAME=cn-test-$$
DL=$(losetup --show -rf $T) || skip "no loop devices"
HL=$(losetup --show -rf $T.verity) || { losetup -d $DL; skip "no loop devices"; }
trap 'dmsetup remove $NAME 2>/dev/null || true; losetup -d $DL $HL 2>/dev/null || true; cleanup_work' EXIT
"$COCOON" model open --name $NAME $DL $HL --root-hash $R >/dev/null || skip "dm-verity activation unavailable"
cmp /dev/mapper/$NAME $T || fail "device content differs from the tar"
"$COCOON" model close $NAME || fail "close"
[ ! -e /dev/mapper/$NAME ] || fail "device still present"
echo ok
