#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# cocoon model open/close (guest side): argument handling and error paths. Activation itself
# needs root and device-mapper with dm-verity: see test-open-dm.sh (skipped without them).
source "$(dirname "$0")/lib.sh"
expect() { local want=$1; shift; set +e; "$@" >/dev/null 2>&1; local rc=$?; set -e; [ $rc = $want ] || fail "'$*' exited $rc, expected $want"; }
S=$WORK/src; mkdir -p $S; printf '{}' > $S/config.json
line=$("$COCOON" model build -q --from-dir $S --images-dir $WORK/img o/m@c)
T=${line#* }; R=$(cat $T.hash)

"$COCOON" model open --help | grep -q '^Usage: cocoon model open' || fail "open --help"
"$COCOON" model close --help | grep -q 'cocoon model close' || fail "close --help"
expect 2 "$COCOON" model open
expect 2 "$COCOON" model open $T
expect 2 "$COCOON" model open $T --root-hash xyz
expect 2 "$COCOON" model open $T --root-hash $R --hash-file $T.hash
expect 2 "$COCOON" model open --bogus $T --root-hash $R
expect 2 "$COCOON" model open a b c --root-hash $R
expect 2 "$COCOON" model open --name 'bad/name' $T --root-hash $R
expect 2 "$COCOON" model open --name '-x' $T --root-hash $R
expect 2 "$COCOON" model close 'bad name'
expect 2 "$COCOON" model close a b
expect 1 "$COCOON" model open $T $WORK/missing.verity --root-hash $R
expect 1 "$COCOON" model open $T --hash-file $WORK/missing.hash
# A superblock this tool does not accept is refused before libcryptsetup is asked.
cp $T.verity $WORK/bad.verity; printf 'X' | dd of=$WORK/bad.verity bs=1 seek=0 conv=notrunc status=none
set +e; err=$("$COCOON" model open $T $WORK/bad.verity --root-hash $R 2>&1); rc=$?; set -e
[ $rc = 1 ] && [[ "$err" == *"signature"* ]] || fail "bad superblock: $rc $err"
# Without device-mapper (or root) activation fails with one clear line.
if [ ! -e /dev/mapper/control ] || [ "$(id -u)" != 0 ]; then
	set +e; err=$("$COCOON" model open --name cn-test-$$ $T --root-hash $R 2>&1); rc=$?; set -e
	[ $rc = 1 ] || fail "open without device-mapper: rc $rc"
	[ "$(printf '%s\n' "$err" | grep -c 'cocoon: error')" = 1 ] || fail "open error: '$err'"
	set +e; err=$("$COCOON" model close cn-test-$$ 2>&1); rc=$?; set -e
	[ $rc = 1 ] || fail "close of a missing device: rc $rc ($err)"
fi
# libcryptsetup is opened at the first use (not linked): other commands do not map it, and a
# broken one is named, exit 1, one line (a stand-in libcryptsetup.so.12 found first).
libs=$(LD_DEBUG=libs "$COCOON" --version 2>&1 >/dev/null | sed -n 's/.*calling init: //p')
[[ $libs == *libcrypto.so* ]] || fail "LD_DEBUG shows no libraries"
[[ $libs != *libcryptsetup* ]] || fail "'cocoon --version' loaded libcryptsetup"
if command -v cc >/dev/null; then
	mkdir -p $WORK/lib
	echo 'int cn_not_cryptsetup(void) { return 0; }' | cc -shared -fPIC -x c -o $WORK/lib/libcryptsetup.so.12 - ||
		fail "cannot build the stand-in library"
	set +e; err=$(LD_LIBRARY_PATH=$WORK/lib "$COCOON" model open --name cn-test-$$ $T --root-hash $R 2>&1); rc=$?; set -e
	[ $rc = 1 ] || fail "broken libcryptsetup: rc $rc ($err)"
	[ "$(printf '%s\n' "$err" | wc -l)" = 1 ] || fail "broken libcryptsetup: want one line: $err"
	[[ $err == *"cannot load libcryptsetup.so.12: it has no symbol crypt_set_log_callback"* ]] ||
		fail "broken libcryptsetup: not named: $err"
	set +e; err=$(LD_LIBRARY_PATH=$WORK/lib "$COCOON" model close cn-test-$$ 2>&1); rc=$?; set -e
	[ $rc = 1 ] && [[ $err == *"cannot load libcryptsetup.so.12"* ]] || fail "close, broken libcryptsetup: $rc $err"
fi
echo ok
