#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Hostile inputs to every reader reachable without a device (issue 10 items 5, 12, 15):
# a FIFO (or a character device) never blocks and fails with exit 1 "not a regular file";
# --hash-file takes one trailing newline; control characters in names never reach stderr raw.
# Every command runs under `timeout` so that a regression fails instead of hanging.
set -euo pipefail
: "${COCOON:?}"
export LC_ALL=C
fail() { echo "FAIL: $*" >&2; exit 1; }
T=$(mktemp -d /tmp/cn-inputs.XXXXXX)
trap 'rm -rf "$T"' EXIT
cd "$T"

# run WANT-RC WANT-TEXT CMD...: exit code and a stderr substring; 124 means it hung.
run() {
	local want=$1 text=$2 rc=0
	shift 2
	timeout 20 "$@" >out 2>err || rc=$?
	[ "$rc" != 124 ] || fail "'$*' hung (a FIFO was opened blocking)"
	[ "$rc" = "$want" ] || fail "'$*': exit $rc, expected $want: $(cat err)"
	grep -qF -- "$text" err || fail "'$*': stderr lacks '$text': $(cat err)"
	! grep -q $'\x1b' err || fail "'$*': a raw ESC byte reached stderr"
}

mkdir src; printf 'hello\n' > src/a.txt
"$COCOON" model build -q --from-dir src --images-dir img org/m@c1 >/dev/null
TAR=img/org_m@c1.tar
HASH=$(cat $TAR.hash)
mkfifo fifo

# --- model verify: the TAR, the VERITY and the hash file ---
run 1 "not a regular file" "$COCOON" model verify -q fifo --root-hash "$HASH"
run 1 "not a regular file" "$COCOON" model verify -q $TAR fifo --root-hash "$HASH"
run 1 "not a regular file" "$COCOON" model verify -q $TAR --hash-file fifo
run 1 "not a regular file" "$COCOON" model verify -q $TAR --hash-file /dev/zero
grep -q "Argument list" err && fail "/dev/zero: errno text leaked: $(cat err)"
head -c 1000 /dev/zero > big
run 1 "larger than a root hash" "$COCOON" model verify -q $TAR --hash-file big
grep -q "Argument list" err && fail "big hash file: errno text leaked: $(cat err)"
# `echo $HASH > F`: one trailing newline is fine, two are not.
echo "$HASH" > h1
timeout 20 "$COCOON" model verify -q $TAR --hash-file h1 || fail "hash file with a newline refused"
printf '%s\n\n' "$HASH" > h2
run 1 "64 lower-case hex" "$COCOON" model verify -q $TAR --hash-file h2

# --- model open (guest): the TAR and the VERITY are checked before libcryptsetup sees them ---
run 1 "not a regular file" "$COCOON" model open $TAR fifo --root-hash "$HASH"
run 1 "not a regular file" "$COCOON" model open fifo $TAR.verity --root-hash "$HASH"

# --- Hugging Face cache ref and token file ---
R=hf/hub/models--org--m
mkdir -p $R/refs $R/snapshots; mkfifo $R/refs/main
HF_HUB_OFFLINE=1 HF_HOME=$T/hf run 1 "not a regular file" "$COCOON" model build -q --images-dir img2 org/m
HF_TOKEN_PATH=$T/fifo HF_ENDPOINT=https://127.0.0.1:9 \
	run 1 "cannot read the token file" "$COCOON" model build -q --images-dir img3 org/x
grep -q "not a regular file" err || fail "token FIFO message: $(cat err)"

# A snapshot file of the HF cache whose blob is a FIFO (the cache check hashes every file).
C=0123456789abcdef0123456789abcdef01234567
R2=hf2/hub/models--org--f
mkdir -p $R2/blobs $R2/snapshots/$C $R2/refs
mkfifo $R2/blobs/5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03
ln -s ../../blobs/5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03 $R2/snapshots/$C/w.bin
HF_HUB_OFFLINE=1 HF_HOME=$T/hf2 run 1 "'w.bin': not a regular file" "$COCOON" model build -q --images-dir img5 org/f@$C

# The launch configuration (a configuration error: launch's code for those is 2).
rc=0; timeout 20 "$COCOON" launch --print-only fifo >out 2>err || rc=$?
[ "$rc" != 124 ] || fail "launch: hung on a FIFO configuration"
[ "$rc" = 1 ] || [ "$rc" = 2 ] || fail "launch FIFO configuration: exit $rc"
grep -q "not a regular file" err || fail "launch FIFO configuration: $(cat err)"

# --- attest readers that come before the evidence is judged (the rest: tests/attest) ---
N=5eed000000000000000000000000000000000000000000000000000000000001
run 1 "not a regular file" "$COCOON" attest verify --nonce $N --evidence fifo
run 1 "not a regular file" "$COCOON" attest verify --nonce $N --evidence fifo --device-root fifo
run 1 "not a regular file" "$COCOON" attest ocsp-request --cert-chain fifo --nonce $N --out-dir req

# --- control characters in names are escaped in every message ---
ESC=$'e\x1b[31mvil'
run 1 'e\x1b[31mvil' "$COCOON" model verify -q "$ESC" --root-hash "$HASH"
mkdir esc-src; printf x > esc-src/ok; mkfifo "esc-src/$ESC"
run 1 'e\x1b[31mvil' "$COCOON" model build -q --from-dir esc-src --images-dir img4 org/e@c
run 1 'e\x1b[31mvil' "$COCOON" model build -q --from-dir "$ESC" --images-dir img4 org/e@c
echo ok
