#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# cocoon model build / build-model: output contract, cache keyed by commit, root-hash check,
# bad input (no outputs), per-model lock, kill -9 mid-build, ENOSPC/EFBIG write failures.
source "$(dirname "$0")/lib.sh"
BM="$(dirname "$COCOON")/build-model"
expect() { local want=$1; shift; set +e; "$@" >/dev/null 2>&1; local rc=$?; set -e; [ $rc = $want ] || fail "'$*' exited $rc, expected $want"; }
# no_outputs DIR: nothing but lock files (and no temporaries).
no_outputs() { [ -z "$(ls -A "$1" 2>/dev/null | grep -v '\.lock$' || true)" ] || fail "$2: outputs left: $(ls -A "$1")"; }

S=$WORK/src; mkdir -p $S/sub
printf '{"a":1}\n' > $S/config.json; head -c 100000 /dev/urandom > $S/model.safetensors
printf 'x' > $S/sub/x.txt; : > $S/empty
I=$WORK/img

# --- output contract ---
out=$("$COCOON" model build --from-dir $S --images-dir $I org/m@c1 2>$WORK/err)
[[ "$out" =~ ^org/m@c1:[0-9a-f]{64}\ /.*/org_m@c1\.tar$ ]] || fail "stdout line: '$out'"
[ "$(printf '%s\n' "$out" | wc -l)" = 1 ] || fail "stdout must be one line"
ROOT=${out%% *}; ROOT=${ROOT##*:}; TAR=${out#* }
[ -f $TAR ] && [ -f $TAR.verity ] && [ -f $TAR.manifest.json ] || fail "outputs missing"
[ "$(cat $TAR.hash)" = $ROOT ] || fail ".hash"
"$COCOON" model verify -q $TAR --root-hash $ROOT || fail "verify of the fresh image"
# The alias, with the reference grammar and an expected root hash.
out2=$("$BM" -q --from-dir $S --images-dir $I org/m@c1:$ROOT) || fail "build-model alias"
[ "$out2" = "$out" ] || fail "alias output '$out2'"
"$BM" --help | grep -q '^Usage: build-model' || fail "build-model --help"
"$COCOON" model build --help | grep -q 'NAME\[@COMMIT\[:ROOTHASH\]\]' || fail "build --help"
# --json
j=$("$COCOON" model build -q --json --from-dir $S --images-dir $I org/m@c1)
python3 - "$j" "$ROOT" "$TAR" <<'PY' || fail "--json"
import json, sys
d = json.loads(sys.argv[1])
assert d["ok"] and d["root_hash"] == sys.argv[2] and d["tar"] == sys.argv[3] and d["cached"] is True, d
assert d["verity"] == sys.argv[3] + ".verity" and d["manifest"].endswith(".manifest.json"), d
PY
# The manifest: every file with size and SHA-256, format and root hash.
python3 - $TAR.manifest.json "$ROOT" $S <<'PY' || fail "manifest"
import hashlib, json, os, sys
m = json.load(open(sys.argv[1]))
assert m["root_hash"] == sys.argv[2] and m["tar_format"] == "gnu-1.35" and m["name"] == "org/m" and m["commit"] == "c1", m
files = {f["path"]: f for f in m["files"]}
assert sorted(files) == ["config.json", "empty", "model.safetensors", "sub/x.txt"], files
for p, f in files.items():
    data = open(os.path.join(sys.argv[3], p), "rb").read()
    assert f["size"] == len(data) and f["sha256"] == hashlib.sha256(data).hexdigest(), p
PY
# Many hashing threads (several file hashers): the same image and manifest.
outm=$(COCOON_THREADS=8 "$COCOON" model build -q --from-dir $S --images-dir $WORK/mt org/m@c1)
[ "${outm%% *}" = "${out%% *}" ] || fail "COCOON_THREADS=8 root hash"
cmp $WORK/mt/org_m@c1.tar.manifest.json $TAR.manifest.json || fail "COCOON_THREADS=8 manifest"
# COCOON_IMAGES_DIR, then ./images.
out3=$(COCOON_IMAGES_DIR=$WORK/envimg "$COCOON" model build -q --from-dir $S org/m@c1)
[ "${out3#* }" = "$WORK/envimg/org_m@c1.tar" ] || fail "COCOON_IMAGES_DIR: $out3"
out4=$(cd $WORK && env -u COCOON_IMAGES_DIR "$COCOON" model build -q --from-dir $S org/m@c1)
[ "${out4#* }" = "$WORK/images/org_m@c1.tar" ] || fail "./images default: $out4"

# --- cache keyed by model and commit ---
printf 'changed' > $S/sub/x.txt
out5=$("$COCOON" model build -q --from-dir $S --images-dir $I org/m@c1)
[ "$out5" = "$out" ] || fail "same commit must reuse the cached image (as the reference)"
out6=$("$COCOON" model build -q --from-dir $S --images-dir $I org/m@c2)
[ "${out6#* }" = "$I/org_m@c2.tar" ] || fail "new commit path: $out6"
[ "${out6%% *}" != "org/m@c2:$ROOT" ] || fail "a new commit reused the old tar"
# Without a source, the cached image is found by name@commit (no hub needed).
out7=$("$COCOON" model build -q --images-dir $I org/m@c1)
[ "$out7" = "$out" ] || fail "cache hit without --from-dir: $out7"
# A tar without its hash file gets its verity completed (reference semantics); same root.
rm $TAR.hash $TAR.verity
out8=$("$COCOON" model build -q --images-dir $I org/m@c1)
[ "$out8" = "$out" ] || fail "verity completion: $out8"
rm $TAR.verity   # .hash without .verity: inconsistent, rebuilt from the tar
out9=$("$COCOON" model build -q --images-dir $I org/m@c1); [ "$out9" = "$out" ] || fail "verity rebuild"
cmp <("$VERITYSETUP" format --uuid=$UUID --salt=$SALT $TAR $WORK/v.verity --root-hash-file=$WORK/v.hash >/dev/null; cat $WORK/v.verity) $TAR.verity || fail "completed verity differs"

# --- the manifest guards the cache: colliding names, another tar format, a changed tar ---
"$COCOON" model build -q --from-dir $S --images-dir $WORK/col a/b@v1 >/dev/null
set +e; "$COCOON" model build -q --from-dir $S --images-dir $WORK/col a_b@v1 2>$WORK/err; rc=$?; set -e
[ $rc = 1 ] && grep -q "collide" $WORK/err || fail "colliding names: $rc $(cat $WORK/err)"
"$COCOON" model build -q --tar-format gnu-1.34 --from-dir $S --images-dir $WORK/col f/m@c >/dev/null
set +e; "$COCOON" model build -q --from-dir $S --images-dir $WORK/col f/m@c 2>$WORK/err; rc=$?; set -e
[ $rc = 1 ] && grep -q "gnu-1.34" $WORK/err || fail "format mismatch: $rc $(cat $WORK/err)"
"$COCOON" model build -q --tar-format gnu-1.34 --images-dir $WORK/col f/m@c >/dev/null || fail "same format, cached"
rm $WORK/col/f_m@c.tar.hash $WORK/col/f_m@c.tar.verity
printf 'X' | dd of=$WORK/col/f_m@c.tar bs=1 seek=700 conv=notrunc status=none
set +e; "$COCOON" model build -q --tar-format gnu-1.34 --images-dir $WORK/col f/m@c 2>$WORK/err; rc=$?; set -e
[ $rc = 1 ] && grep -q "does not match its manifest" $WORK/err || fail "changed tar: $rc $(cat $WORK/err)"
[ ! -e $WORK/col/f_m@c.tar.hash ] || fail "changed tar: a .hash was written"
printf '{not json' > $WORK/col/a_b@v1.tar.manifest.json
set +e; "$COCOON" model build -q --images-dir $WORK/col a/b@v1 2>$WORK/err; rc=$?; set -e
[ $rc = 1 ] && grep -q "invalid JSON" $WORK/err || fail "broken manifest: $rc $(cat $WORK/err)"

# --- expected root hash mismatch: exit 3 (rejected) naming both, outputs kept ---
BAD=0000000000000000000000000000000000000000000000000000000000000000
set +e; o=$("$COCOON" model build -q --from-dir $S --images-dir $I org/m@c1:$BAD 2>$WORK/err); rc=$?; set -e
[ $rc = 3 ] && [ -z "$o" ] || fail "mismatch: rc $rc out '$o'"
grep -q "$BAD" $WORK/err && grep -q "$ROOT" $WORK/err || fail "mismatch message: $(cat $WORK/err)"
[ -f $TAR ] && [ -f $TAR.hash ] || fail "mismatch must keep the cached outputs"
# A fresh build that is not the expected image is never left in the image cache.
set +e; o=$("$COCOON" model build -q --from-dir $S --images-dir $WORK/mis org/m@c1:$BAD 2>$WORK/err); rc=$?; set -e
[ $rc = 3 ] && [ -z "$o" ] && grep -q "$BAD" $WORK/err || fail "fresh mismatch: rc $rc $(cat $WORK/err)"
no_outputs $WORK/mis "fresh mismatch"

# --- bad input: clear error, no outputs ---
for spec in "" "@c" "m@" "m@c:" "m@c:xyz" "m@c:$(echo $ROOT | tr a-f A-F)" "a/b/c@c" "a b@c" "../x@c" "m@-c" "m@c/d" "/m@c"; do
	set +e; "$COCOON" model build -q --from-dir $S --images-dir $WORK/bad "$spec" 2>$WORK/err; rc=$?; set -e
	[ $rc = 2 ] || fail "spec '$spec': rc $rc"
	grep -q 'model spec' $WORK/err || fail "spec '$spec': message $(cat $WORK/err)"
done
no_outputs $WORK/bad "malformed specs"
expect 2 "$COCOON" model build --from-dir $S --images-dir $WORK/bad org/m
expect 2 "$COCOON" model build --images-dir $WORK/bad
expect 2 "$COCOON" model build --tar-format gnu-1.33 --from-dir $S org/m@c
expect 2 "$COCOON" model build --bogus org/m@c
expect 2 "$COCOON" model build org/m@c extra
expect 2 "$COCOON" model
bad_tree() {  # bad_tree WHAT SETUP-COMMANDS: the build fails with exit 1 and leaves nothing.
	local what=$1 B=$WORK/badsrc-$RANDOM; mkdir -p $B; printf 'ok' > $B/ok.txt
	(cd $B && eval "$2")
	set +e; "$COCOON" model build -q --from-dir $B --images-dir $WORK/badimg "bad/m@$RANDOM" 2>$WORK/err; rc=$?; set -e
	[ $rc = 1 ] || fail "$what: rc $rc"
	grep -q "$3" $WORK/err || fail "$what: message '$(cat $WORK/err)' lacks '$3'"
	no_outputs $WORK/badimg "$what"
}
bad_tree "fifo" "mkfifo pipe" "fifo"
bad_tree "socket" "python3 -c 'import socket; s=socket.socket(socket.AF_UNIX); s.bind(\"sock\")'" "socket"
if mknod $WORK/devtest c 1 3 2>/dev/null; then rm -f $WORK/devtest; bad_tree "device" "mknod null c 1 3" "character device"; fi
bad_tree "escaping symlink" "mkdir d; ln -s ../../outside d/link" "leaves the snapshot"
bad_tree "absolute symlink" "ln -s /etc/passwd link" "absolute"
# Two links that are each harmless textually escape together (issue 10 item 1).
bad_tree "escape through an in-tree link" "D=d1/d2/d3/d4/d5/d6/d7/d8/d9/d10; mkdir -p \$D; ln -s ../../../../../../../../../.. \$D/L; ln -s L/../../../../../../../../../../etc/passwd \$D/tokenizer.json" "tokenizer.json' -> 'L/"
bad_tree "escape through R -> ." "ln -s . R; ln -s R/.. UP" "symlink 'UP' -> 'R/..' leaves the snapshot"
bad_tree "symlink loop" "ln -s b a; ln -s a b" "loop"
bad_tree "pre-1970 mtime" "touch -d '1960-01-01' old" "1970"
set +e; "$COCOON" model build -q --from-dir $S --images-dir $S/sub/img in/side@c 2>$WORK/err; rc=$?; set -e
[ $rc = 1 ] && grep -q "inside the source" $WORK/err || fail "images inside the source: $rc $(cat $WORK/err)"
rm -rf $S/sub/img
set +e; "$COCOON" model build -q --from-dir $WORK/nope --images-dir $WORK/badimg bad/m@x 2>$WORK/err; rc=$?; set -e
[ $rc = 1 ] && grep -q "nope" $WORK/err || fail "missing dir: $rc $(cat $WORK/err)"
no_outputs $WORK/badimg "missing dir"
set +e; j=$("$COCOON" model build -q --json --from-dir $WORK/nope --images-dir $WORK/badimg bad/m@x 2>/dev/null); rc=$?; set -e
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["ok"] is False and "nope" in d["error"], d' "$j" || fail "--json failure object: $j"
# Unreadable file (root reads everything, so run as nobody when possible).
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	U=$WORK/unread; mkdir -p $U/src $U/img; printf 'a' > $U/src/a; printf 's' > $U/src/secret; chmod 000 $U/src/secret
	chmod 755 $WORK $U $U/src; chmod 777 $U/img
	set +e; setpriv --reuid=65534 --regid=65534 --clear-groups "$COCOON" model build -q --from-dir $U/src --images-dir $U/img u/m@c 2>$WORK/err; rc=$?; set -e
	[ $rc = 1 ] && grep -q "secret" $WORK/err || fail "unreadable file: $rc $(cat $WORK/err)"
	no_outputs $U/img "unreadable file"
fi
# No source, no cache: the hub is asked (and may not be available); offline says so.
set +e; HF_ENDPOINT=https://127.0.0.1:9 HF_HUB_DOWNLOAD_TIMEOUT=2 HF_HOME=$WORK/nohf "$COCOON" model build -q --hf-token SECRET-TOKEN-123 --images-dir $WORK/hub org/none@c 2>$WORK/err >$WORK/out; rc=$?; set -e
[ $rc = 1 ] || fail "hub fallback rc $rc"
! grep -q SECRET-TOKEN-123 $WORK/err $WORK/out || fail "the token was printed"
set +e; HF_HOME=$WORK/nohf HF_HUB_OFFLINE=1 "$COCOON" model build -q --images-dir $WORK/hub org/none@c 2>$WORK/err; rc=$?; set -e
[ $rc = 1 ] && grep -q HF_HUB_OFFLINE $WORK/err || fail "offline: $rc $(cat $WORK/err)"

# --- per-model lock: the same model waits (and says so); another model does not ---
L=$WORK/lockimg; mkdir -p $L
flock $L/org_m.lock sleep 1.5 &
holder=$!
sleep 0.3
start=$(date +%s%N)
timeout 20 "$COCOON" model build --from-dir $S --images-dir $L other/model@c1 >/dev/null 2>&1 || fail "another model blocked"
[ $(( ($(date +%s%N) - start) / 1000000 )) -lt 1000 ] || fail "a different model waited for the lock"
timeout 20 "$COCOON" model build --from-dir $S --images-dir $L org/m@c1 >$WORK/lockout 2>$WORK/lockerr || fail "waiting build failed"
wait $holder
grep -q "waiting" $WORK/lockerr || fail "the waiting build did not say so: $(cat $WORK/lockerr)"
h6=${out6%% *}; [ "$(cut -d' ' -f1 $WORK/lockout)" = "org/m@c1:${h6##*:}" ] || fail "waited build result"
# Two real builds of the same model at once: both succeed with the same result.
( "$COCOON" model build -q --from-dir $S --images-dir $WORK/par org/m@p > $WORK/p1 ) &
( "$COCOON" model build -q --from-dir $S --images-dir $WORK/par org/m@p > $WORK/p2 ) &
wait
cmp $WORK/p1 $WORK/p2 || fail "concurrent builds disagree"

# --- kill -9 / Ctrl-C at various moments: no output or a complete set; the next run completes it ---
K=$WORK/kill; mkdir -p $K/src; head -c $((48 << 20)) /dev/urandom > $K/src/big.bin; printf '{}' > $K/src/config.json
ref=$("$COCOON" model build -q --from-dir $K/src --images-dir $K/ref k/m@c)
for d in 0.01 0.05 0.1 0.2 0.4 0.02:INT 0.08:INT; do
	sig=KILL; case $d in *:INT) sig=INT; d=${d%:INT};; esac   # SIGKILL, and Ctrl-C (SIGINT)
	rm -rf $K/img
	# Background jobs start with SIGINT ignored; env restores the default as a terminal would
	# have it, and execs cocoon itself (no interpreter or shim in between to take the signal).
	COCOON_THREADS=1 env --default-signal=INT \
		"$COCOON" model build -q --from-dir $K/src --images-dir $K/img k/m@c >/dev/null 2>$WORK/killerr &
	pid=$!; sleep $d; kill -$sig $pid 2>/dev/null || true; wait $pid 2>/dev/null || true
	[ -f $K/src/big.bin ] || fail "kill at $d: the source is gone: $(ls -la $K) $(cat $WORK/killerr)"
	if [ -f $K/img/k_m@c.tar.hash ]; then
		"$COCOON" model verify -q $K/img/k_m@c.tar --hash-file $K/img/k_m@c.tar.hash || fail "kill at $d: inconsistent set"
	fi
	line=$("$COCOON" model build -q --from-dir $K/src --images-dir $K/img k/m@c) ||
		fail "rerun after kill at $d: $(ls -la $K $K/img 2>&1) killed run: $(cat $WORK/killerr)"
	[ -f $K/src/big.bin ] || fail "rerun after kill at $d: the source is gone: $(ls -la $K)"
	[ "${line%% *}" = "${ref%% *}" ] || fail "rerun after kill at $d: $line"
	cmp $K/img/k_m@c.tar ${ref#* } || fail "kill at $d: tar differs after the rerun"
	[ -z "$(ls -A $K/img | grep '^\.' || true)" ] || fail "kill at $d: temporaries left: $(ls -A $K/img)"
done
# The progress bar appears on a TTY (stderr), never in the stdout line.
if command -v script >/dev/null; then
	rm -rf $WORK/tty
	script -qc "'$COCOON' model build --from-dir $K/src --images-dir $WORK/tty k/m@c 2>&1 >/dev/null" /dev/null > $WORK/ttyout || true
	grep -q 'building \[' $WORK/ttyout || fail "no progress bar on a TTY: $(cat -v $WORK/ttyout)"
fi
# A stale named temporary (killed between link and rename) is removed by the next build.
: > "$K/img/.k_m@c.tar.verity.99999.0"
"$COCOON" model build -q --images-dir $K/img k/m@c >/dev/null
[ ! -e "$K/img/.k_m@c.tar.verity.99999.0" ] || fail "stale temporary not removed"

# --- write failures: EFBIG (RLIMIT_FSIZE) and a full tmpfs (ENOSPC): no outputs ---
set +e; (ulimit -f 2048; trap '' XFSZ; exec "$COCOON" model build -q --from-dir $K/src --images-dir $WORK/fsz k/m@c) 2>$WORK/err; rc=$?; set -e
[ $rc = 1 ] && grep -qi "too large" $WORK/err || fail "EFBIG: rc $rc $(cat $WORK/err)"
no_outputs $WORK/fsz "EFBIG"
if [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then
	mkdir -p $WORK/full
	set +e
	unshare -m sh -c "mount -t tmpfs -o size=8m tmpfs $WORK/full && '$COCOON' model build -q --from-dir $K/src --images-dir $WORK/full/img k/m@c; rc=\$?; ls -A $WORK/full/img > $WORK/fulls; exit \$rc" 2>$WORK/err
	rc=$?; set -e
	[ $rc = 1 ] && grep -q "No space left" $WORK/err || fail "ENOSPC: rc $rc $(cat $WORK/err)"
	[ -z "$(grep -v '\.lock$' $WORK/fulls || true)" ] || fail "ENOSPC left outputs: $(cat $WORK/fulls)"
	# A complete image in a read-only images folder (its lock file cannot be opened for
	# writing: EROFS) is used with a read-only check; an incomplete one is an error.
	cp -a $I $WORK/roimg; rm -f $WORK/roimg/*.lock
	set +e
	ro=$(unshare -m sh -c "mount --bind $WORK/roimg $WORK/roimg && mount -o remount,bind,ro $WORK/roimg && '$COCOON' model build -q --images-dir $WORK/roimg org/m@c1:$ROOT" 2>$WORK/err)
	rc=$?; set -e
	[ $rc = 0 ] && [ "${ro%% *}" = "${out%% *}" ] || fail "read-only images folder: rc $rc '$ro' $(cat $WORK/err)"
	rm -f $WORK/roimg/org_m@c1.tar.hash
	set +e
	unshare -m sh -c "mount --bind $WORK/roimg $WORK/roimg && mount -o remount,bind,ro $WORK/roimg && '$COCOON' model build -q --images-dir $WORK/roimg org/m@c1" 2>$WORK/err
	rc=$?; set -e
	[ $rc = 1 ] && grep -q "read-only" $WORK/err || fail "read-only, incomplete: rc $rc $(cat $WORK/err)"
fi
echo ok
