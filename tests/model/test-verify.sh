#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# cocoon model verify against `veritysetup verify`: the same verdict and the same first bad
# position for corruption of data, padding, each hash level, spare areas and the superblock.
source "$(dirname "$0")/lib.sh"
need_tools

D=$WORK/src; mkdir -p $D
head -c 3145728 /dev/zero | openssl enc -aes-128-ctr -nosalt -K 000102030405060708090a0b0c0d0e0f \
	-iv 00000000000000000000000000000000 > $D/model.safetensors
printf '{}\n' > $D/config.json
line=$("$COCOON" model build -q --from-dir $D --images-dir $WORK/img v/m@1)
TAR=${line#* }; ROOT=$(cat $TAR.hash)
# 308 records + 4096 padding = 771 blocks: level 0 = 7 blocks at 8192 (the last one holds 3
# digests), level 1 (top) = 1 block at 4096 holding 7 digests.
SIZE=$(stat -c %s $TAR); N=$((SIZE / 4096))
[ $N = 771 ] || fail "unexpected tar size $SIZE"

# flip FILE OFFSET: xor one byte with 0x01.
flip() {
	local b
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	printf "$(printf '\\%03o' $(( b ^ 1 )))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
# run_both WHAT WANT_RC [WANT_MSG]: ours and veritysetup on $T/$T.verity.
run_both() {
	local what=$1 want=$2 msg=${3:-} rc vrc out vout
	set +e
	out=$("$COCOON" model verify -q "$T" "$T.verity" --root-hash "${R:-$ROOT}" 2>&1); rc=$?
	vout=$("$VERITYSETUP" verify "$T" "$T.verity" "${R:-$ROOT}" 2>&1); vrc=$?
	set -e
	[ $rc = $want ] || fail "$what: exit $rc, expected $want ($out)"
	if [ -n "$msg" ]; then
		[[ "$out" == *"$msg"* ]] || fail "$what: '$out' lacks '$msg'"
	fi
	# Same verdict as veritysetup (and the same position when it names one).
	if [ $want = 0 ]; then [ $vrc = 0 ] || fail "$what: veritysetup says $vrc"; else [ $vrc != 0 ] || fail "$what: veritysetup passes"; fi
	if [[ "$vout" == *"at position"* ]]; then
		local vpos=${vout##*at position }; vpos=${vpos%%.*}
		[[ "$out" == *"at position $vpos."* ]] || fail "$what: veritysetup reports position $vpos, we say '$out'"
	fi
}
fresh() { T=$WORK/case.tar; cp $TAR $T; cp $TAR.verity $T.verity; R=; }

fresh; run_both "intact" 0
fresh; flip $T 2000000; run_both "data byte" 3 "Verification failed at position 1998848."
fresh; flip $T $((SIZE - 1)); run_both "last padding byte" 3 "Verification failed at position $((SIZE - 4096))."
fresh; flip $T $((SIZE - 4096)); run_both "first padding byte" 3 "Verification failed at position $((SIZE - 4096))."
fresh; flip $T 0; run_both "first tar byte" 3 "Verification failed at position 0."
fresh; flip $T.verity $((4096 + 5)); run_both "top level digest" 3 "Verification failed at position 8192."
fresh; flip $T.verity $((4096 + 6 * 32)); run_both "top level, last digest" 3 "Verification failed at position 32768."
fresh; flip $T.verity $((8192 + 3 * 32 + 1)); run_both "level 0 digest" 3 "Verification failed at position 12288."
fresh; flip $T.verity $((8192 + 6 * 4096 + 2 * 32)); run_both "level 0, last block" 3 "Verification failed at position $(((N - 1) * 4096))."
fresh; flip $T.verity $((4096 + 300)); run_both "top level spare area" 3 "Spare area is not zeroed at position 4320."
fresh; flip $T.verity $((8192 + 6 * 4096 + 4000)); run_both "level 0 spare area" 3 "Spare area is not zeroed at position $((8192 + 6 * 4096 + 3 * 32))."
fresh; flip $T.verity 1000; run_both "gap after the superblock (unchecked)" 0
fresh; flip $T.verity 88; run_both "salt byte" 3 "Verification failed at position 0."
fresh; R=0000000000000000000000000000000000000000000000000000000000000000; run_both "wrong root hash" 3 "Verification of root hash failed."

# Superblock fields: ours rejects each with a message naming it (veritysetup rejects too).
sbcase() {
	local what=$1 off=$2 name=$3 rc out
	fresh; flip $T.verity $off
	set +e; out=$("$COCOON" model verify -q "$T" --root-hash "$ROOT" 2>&1); rc=$?; set -e
	[ $rc = 3 ] || fail "superblock $what: exit $rc ($out)"
	[[ "$out" == *"$name"* ]] || fail "superblock $what: message '$out' lacks '$name'"
	"$VERITYSETUP" verify "$T" "$T.verity" "$ROOT" >/dev/null 2>&1 && fail "superblock $what: veritysetup passes" || true
}
sbcase signature 0 "'signature'"
sbcase version 8 "'version'"
sbcase hash_type 12 "'hash_type'"
sbcase algorithm 32 "'algorithm'"
sbcase data_block_size 65 "'data_block_size'"
sbcase hash_block_size 69 "'hash_block_size'"
sbcase data_blocks 72 "protected"
sbcase salt_size 81 "'salt_size'"

# Sizes: data shorter -> corrupt; data longer: unprotected bytes, refused (veritysetup ignores them).
fresh; truncate -s $((SIZE - 4096)) $T; run_both "short data file" 3 "shorter"
fresh; printf 'x' >> $T
set +e; out=$("$COCOON" model verify -q "$T" --root-hash "$ROOT" 2>&1); rc=$?; set -e
[ $rc = 3 ] && [[ "$out" == *"not protected"* ]] || fail "longer data file: $rc $out"
fresh; truncate -s 36000 $T.verity
set +e; "$COCOON" model verify -q "$T" --root-hash "$ROOT" 2>/dev/null; rc=$?; set -e
[ $rc = 3 ] || fail "short hash file: $rc"

# One data block: no hash levels, the root is the block's own digest.
mkdir -p $WORK/one; truncate -s 4096 "$WORK/one/one@c.tar"
"$COCOON" model build -q --images-dir $WORK/one one@c >/dev/null
T=$WORK/one/one@c.tar; R=$(cat $T.hash); run_both "one block, intact" 0
flip $T 5; run_both "one block, corrupted" 3 "Verification of root hash failed."

# --hash-file, default VERITY, --json, errors and usage.
fresh; "$COCOON" model verify -q "$T" --hash-file $TAR.hash || fail "--hash-file"
j=$("$COCOON" model verify --json "$T" --root-hash "$ROOT")
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["status"]=="ok" and d["exit"]==0 and d["data_blocks"]==771, d' "$j" || fail "--json ok"
flip $T 5000
set +e; j=$("$COCOON" model verify --json "$T" --root-hash "$ROOT" 2>/dev/null); rc=$?; set -e
[ $rc = 3 ] || fail "--json corrupt rc $rc"
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["status"]=="corrupt" and d["exit"]==3 and d["bad_offset"]==4096 and d["bad_in"]=="data", d' "$j" || fail "--json corrupt"
expect() { local want=$1; shift; set +e; "$@" >/dev/null 2>&1; local rc=$?; set -e; [ $rc = $want ] || fail "'$*' exited $rc, expected $want"; }
expect 2 "$COCOON" model verify
expect 2 "$COCOON" model verify "$T"
expect 2 "$COCOON" model verify "$T" --root-hash abc
expect 2 "$COCOON" model verify "$T" --root-hash "$ROOT" --hash-file $TAR.hash
expect 2 "$COCOON" model verify --bogus
expect 2 "$COCOON" model verify a b c --root-hash "$ROOT"
expect 1 "$COCOON" model verify $WORK/missing.tar --root-hash "$ROOT"
expect 1 "$COCOON" model verify "$T" --hash-file $WORK/missing.hash
"$COCOON" model verify --help | grep -q '^Usage: cocoon model verify' || fail "verify --help"
echo ok
