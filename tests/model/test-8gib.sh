#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Slow suite (CN_SLOW_TESTS=1): files of exactly 8 GiB and 8 GiB - 1 (sparse sources) built in
# full and compared with GNU tar 1.35 + padding and veritysetup format. Writes ~17 GiB; minutes.
# (The headers of such files are checked quickly in test-model.c on every run.)
source "$(dirname "$0")/lib.sh"
[ "${CN_SLOW_TESTS:-0}" = 1 ] || skip "slow test; set CN_SLOW_TESTS=1"
need_tools
D=$WORK/src; mkdir -p $D
truncate -s 8589934592 $D/big.gguf; printf 'end' | dd of=$D/big.gguf bs=1 seek=8589934000 conv=notrunc status=none
truncate -s 8589934591 $D/big-minus-1.bin
printf '{}' > $D/config.json
line=$("$COCOON" model build -q --from-dir $D --images-dir $WORK/img big/m@c)
T=${line#* }
want=$(cd $D && "$TAR135" -cf - . --sort=name --format=posix --pax-option='exthdr.name=%d/PaxHeaders/%f' \
	--pax-option='delete=atime,delete=ctime' --clamp-mtime --mtime=@0 --numeric-owner --owner=0 --group=0 \
	--mode='go+u,go-w' | python3 -c '
import hashlib, sys
h = hashlib.sha256(); n = 0
while True:
    b = sys.stdin.buffer.read(1 << 22)
    if not b: break
    h.update(b); n += len(b)
h.update(b"\0" * (4096 - n % 4096)); print(h.hexdigest())')
[ "$(sha256sum < $T | cut -d' ' -f1)" = "$want" ] || fail "8 GiB tar differs from GNU tar 1.35"
ref_verity $T $WORK/ref
cmp $WORK/ref.verity $T.verity || fail "8 GiB .verity differs"
cmp $WORK/ref.hash $T.hash || fail "8 GiB .hash differs"
echo ok
