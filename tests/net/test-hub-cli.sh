#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# build-model by name against the fake hub (tests/net/fakehub.py, TLS on 127.0.0.1):
#  - the image equals GNU tar (1.35 and 1.34) + veritysetup run on the same files fetched with
#    curl(1), an independent client;
#  - every injected fault: exit status 1, one clear message, nothing on stdout, no image files;
#  - progress on a TTY only; the token never printed; HF cache snapshots (offline, corrupt blob).
source "${CN_SOURCE_DIR:?}/tests/model/lib.sh"
need_tools
command -v python3 >/dev/null && command -v openssl >/dev/null && command -v curl >/dev/null ||
	skip "python3, openssl or curl missing"

unset HF_TOKEN HUGGING_FACE_HUB_TOKEN HF_TOKEN_PATH HF_HUB_OFFLINE CURL_CA_BUNDLE https_proxy HTTPS_PROXY all_proxy ALL_PROXY
mkdir -p $WORK/fh
python3 "$CN_SOURCE_DIR/tests/net/fakehub.py" --dir $WORK/fh --lifetime 300 &
HUB_PID=$!
trap 'kill $HUB_PID 2>/dev/null || true; wait $HUB_PID 2>/dev/null || true; cleanup_work' EXIT
for _ in $(seq 200); do [ -f $WORK/fh/ports ] && break; sleep 0.05; done
[ -f $WORK/fh/ports ] || fail "fake hub did not start"
read -r HUBPORT _ < $WORK/fh/ports
export HF_ENDPOINT=https://127.0.0.1:$HUBPORT REQUESTS_CA_BUNDLE=$WORK/fh/ca.pem HF_HOME=$WORK/hf
export HF_HUB_DOWNLOAD_TIMEOUT=2
mkdir -p $HF_HOME

commit_of() { printf '%s' "$1" | sha1sum | cut -c1-40; }

# --- the reference: the same files fetched with curl(1), then GNU tar + veritysetup ---
REF=$WORK/ref; mkdir -p $REF
C=$(commit_of t/good)
curl -sf --cacert $REQUESTS_CA_BUNDLE "$HF_ENDPOINT/_files" > $WORK/files.json
python3 - "$WORK/files.json" > $WORK/paths <<'EOF'
import json, sys
for p in sorted(json.load(open(sys.argv[1]))):
    if not p.startswith(".cache/"):
        print(p)
EOF
while IFS= read -r p; do
	mkdir -p "$REF/$(dirname "$p")"
	curl -sfL --cacert $REQUESTS_CA_BUNDLE -o "$REF/$p" "$HF_ENDPOINT/t/good/resolve/$C/$(python3 -c 'import sys,urllib.parse;print(urllib.parse.quote(sys.argv[1]))' "$p")"
	chmod 0644 "$REF/$p"
done < $WORK/paths
[ "$(find $REF -type f | wc -l)" = 8 ] || fail "reference download incomplete"

for fmt in gnu-1.35 gnu-1.34; do
	if [ $fmt = gnu-1.34 ]; then bin=$TAR134; else bin=$TAR135; fi
	ref_tar $REF "$bin" $WORK/ref-$fmt.tar
	ref_verity $WORK/ref-$fmt.tar $WORK/ref-$fmt
	out=$("$COCOON" model build -q --tar-format $fmt --images-dir $WORK/img-$fmt t/good)
	[ "$out" = "t/good@$C:$(cat $WORK/ref-$fmt.hash) $WORK/img-$fmt/$(basename "${out#* }")" ] || fail "$fmt: line '$out'"
	tar=${out#* }
	cmp $WORK/ref-$fmt.tar "$tar" || fail "$fmt: tar differs from GNU tar on the downloaded files"
	cmp $WORK/ref-$fmt.verity "$tar.verity" || fail "$fmt: .verity differs from veritysetup"
	cmp $WORK/ref-$fmt.hash "$tar.hash" || fail "$fmt: .hash differs from veritysetup"
	# the staging folder is gone once the image is built
	[ -z "$(find $WORK/img-$fmt -name "t_good@$C")" ] || fail "$fmt: staging folder left behind"
done
ROOT=$(cat $WORK/ref-gnu-1.35.hash)
# Pinned spec with the root hash, through the build-model alias: cached, same line.
BM="$(dirname "$COCOON")/build-model"
out=$("$BM" -q --images-dir $WORK/img-gnu-1.35 "t/good@$C:$ROOT") || fail "pinned spec failed"
[ "${out%% *}" = "t/good@$C:$ROOT" ] || fail "pinned spec line '$out'"

# --- faults: exit 1, a clear message, nothing on stdout, no image files ---
no_images() { [ -z "$(find "$1" -name '*.tar*' 2>/dev/null)" ] || fail "$2: image files were written"; }
expect_fail() {   # REPO NEEDLE [extra args...]
	local repo=$1 needle=$2 img=$WORK/fail-${1//\//_} rc; shift 2
	set +e; "$COCOON" model build -q --images-dir $img "$@" $repo >$WORK/out 2>$WORK/err; rc=$?; set -e
	[ $rc = 1 ] || fail "$repo: exit $rc, expected 1 ($(cat $WORK/err))"
	grep -qF -- "$needle" $WORK/err || fail "$repo: message lacks '$needle': $(cat $WORK/err)"
	[ "$(wc -l < $WORK/err)" = 1 ] || fail "$repo: more than one error line: $(cat $WORK/err)"
	[ ! -s $WORK/out ] || fail "$repo: wrote to stdout"
	no_images $img $repo
}
expect_fail t/nope "repository 't/nope' not found"
expect_fail t/private "needs a token (401)"
expect_fail t/private "rejected the token" --hf-token WRONG-TOKEN-987
grep -q WRONG-TOKEN-987 $WORK/err && fail "the token was printed"
expect_fail t/gated "is gated (401)"
expect_fail t/forbidden "forbidden (403)"
expect_fail t/good@v404 "revision 'v404' not found in repository 't/good'"
expect_fail t/corrupt "'model.safetensors' is corrupt: SHA-256 $(python3 -c 'import json,sys;f=json.load(open(sys.argv[1]))["model.safetensors"];print(f["bad_sha256"]+", expected "+f["sha256"])' $WORK/files.json)"
expect_fail t/corrupt-small "'config.json' is corrupt: git blob SHA-1"
expect_fail t/dotdot "repository path '../evil.txt' has a '.' or '..' component"
HF_HUB_DOWNLOAD_TIMEOUT=1 expect_fail t/stall "network timeout"
expect_fail t/http-redirect "refusing a non-https URL or redirect"
[ ! -e $WORK/fail-t_dotdot/.staging ] || fail "dotdot: staging written before the listing was checked"

# --- transient faults recover; the image is the same (same files) ---
for repo in t/flaky t/truncated t/ratelimit t/private; do
	tok=(); [ $repo = t/private ] && tok=(--hf-token secret-token)
	out=$("$COCOON" model build -q "${tok[@]}" --images-dir $WORK/ok-${repo//\//_} $repo) || fail "$repo failed"
	[ "${out%% *}" = "$repo@$(commit_of $repo):$ROOT" ] || fail "$repo: line '$out'"
done

# --- progress: on a TTY (per file, total, rate), never when stderr is not one ---
"$COCOON" model build --images-dir $WORK/notty t/flaky >/dev/null 2>$WORK/err || fail "non-TTY build failed"
! grep -q $'\r' $WORK/err || fail "progress drawn on a non-TTY stderr"
script -qec "HF_ENDPOINT=$HF_ENDPOINT REQUESTS_CA_BUNDLE=$REQUESTS_CA_BUNDLE HF_HOME=$HF_HOME '$COCOON' model build --images-dir $WORK/tty solo" $WORK/tty.log >/dev/null </dev/null ||
	fail "TTY build failed"
grep -qE '\[[0-9]+/[0-9]+\] .*B/s' $WORK/tty.log || fail "no per-file progress with rate on a TTY: $(tr '\r' '\n' < $WORK/tty.log | head -5)"

# --- an HF cache snapshot (blobs named by hash): offline build; a corrupt blob is caught ---
repo=$HF_HOME/hub/models--t--good; mkdir -p $repo/blobs $repo/snapshots/$C $repo/refs
printf '%s' $C > $repo/refs/main
gitoid() { { printf 'blob %d\0' "$(stat -c %s "$1")"; cat "$1"; } | sha1sum | cut -c1-40; }
while IFS= read -r p; do
	case "$p" in model.safetensors|weights/part-2.bin) b=$(sha256sum < "$REF/$p" | cut -c1-64) ;; *) b=$(gitoid "$REF/$p") ;; esac
	cp "$REF/$p" $repo/blobs/$b
	mkdir -p "$repo/snapshots/$C/$(dirname "$p")"
	ln -s "$(realpath -m --relative-to="$(dirname "$repo/snapshots/$C/$p")" $repo/blobs/$b)" "$repo/snapshots/$C/$p"
done < $WORK/paths
# Offline, a cached snapshot is trusted only against the listing the HF client left beside it.
set +e; HF_HUB_OFFLINE=1 "$COCOON" model build -q --images-dir $WORK/offline0 t/good 2>$WORK/err; rc=$?; set -e
[ $rc = 1 ] && grep -q "cannot be verified" $WORK/err || fail "offline without trees/: rc $rc $(cat $WORK/err)"
hf_tree_json $repo $C
out=$(HF_HUB_OFFLINE=1 "$COCOON" model build -q --images-dir $WORK/offline t/good) || fail "offline build from the HF cache failed"
[ "${out%% *}" = "t/good@$C:$ROOT" ] || fail "offline: line '$out'"
b=$(sha256sum < "$REF/model.safetensors" | cut -c1-64)
printf 'X' | dd of=$repo/blobs/$b bs=1 seek=1000 conv=notrunc status=none
# The LFS blob's content is checked once, in the build's single pass (not by a separate read).
HF_HUB_OFFLINE=1 expect_fail t/good "'model.safetensors' is corrupted: its content has SHA-256 "
grep -qF "blob is named $b" $WORK/err || fail "offline corrupt blob: expected hash not named: $(cat $WORK/err)"
# Online with the commit: the corrupt cache is replaced by a verified download.
out=$("$COCOON" model build --images-dir $WORK/recover "t/good@$C" 2>$WORK/err) || fail "recovery from a corrupt cache failed: $(cat $WORK/err)"
[ "${out%% *}" = "t/good@$C:$ROOT" ] || fail "recovery: line '$out'"
grep -qF "'model.safetensors' is corrupted" $WORK/err && grep -qF "downloading a fresh copy" $WORK/err ||
	fail "recovery: the corrupt cache blob was not reported: $(cat $WORK/err)"

# --- caches written the way huggingface_hub writes them (relative links into blobs/, refs/main
# without a newline): a pinned build uses a cached snapshot only if it is exactly the commit ---
# mkcache HUBCACHE MODE PATHS: MODE link (blobs + relative links) or copy (files in the snapshot).
mkcache() {
	local repo=$1/models--t--good p b
	rm -rf $repo; mkdir -p $repo/blobs $repo/snapshots/$C $repo/refs
	printf '%s' $C > $repo/refs/main
	while IFS= read -r p; do
		case "$p" in model.safetensors|weights/part-2.bin) b=$(sha256sum < "$REF/$p" | cut -c1-64) ;; *) b=$(gitoid "$REF/$p") ;; esac
		mkdir -p "$repo/snapshots/$C/$(dirname "$p")"
		if [ $2 = copy ]; then cp "$REF/$p" "$repo/snapshots/$C/$p"; continue; fi
		cp "$REF/$p" $repo/blobs/$b
		ln -s "$(realpath -m --relative-to="$(dirname "$repo/snapshots/$C/$p")" $repo/blobs/$b)" "$repo/snapshots/$C/$p"
	done < $3
}
good_line() { [ "${1%% *}" = "t/good@$C:$ROOT" ] || fail "$2: line '$1' (expected root $ROOT)"; }
# A partial snapshot (allow_patterns, an interrupted download): online it is checked against the
# hub's listing for the commit and completed by a download; offline it is refused.
grep -E '^(config.json|model.safetensors)$' $WORK/paths > $WORK/some
mkcache $WORK/hfp/hub link $WORK/some
out=$(HF_HOME=$WORK/hfp "$COCOON" model build -q --images-dir $WORK/part "t/good@$C" 2>$WORK/err) || fail "partial snapshot, online: $(cat $WORK/err)"
good_line "$out" "partial snapshot, pinned, online"
out=$(HF_HOME=$WORK/hfp "$COCOON" model build -q --images-dir $WORK/part2 t/good 2>$WORK/err) || fail "partial snapshot, @main: $(cat $WORK/err)"
good_line "$out" "partial snapshot, @main"
mkcache $WORK/hfp/hub link $WORK/paths; hf_tree_json $WORK/hfp/hub/models--t--good $C
mkcache $WORK/hfp2/hub link $WORK/some; mkdir -p $WORK/hfp2/hub/models--t--good/trees
cp $WORK/hfp/hub/models--t--good/trees/$C.json $WORK/hfp2/hub/models--t--good/trees/
set +e; HF_HOME=$WORK/hfp2 HF_HUB_OFFLINE=1 "$COCOON" model build -q --images-dir $WORK/part3 "t/good@$C" 2>$WORK/err; rc=$?; set -e
[ $rc = 1 ] && grep -q "files are missing" $WORK/err || fail "partial snapshot, offline: rc $rc $(cat $WORK/err)"
[ -z "$(ls -A $WORK/part3 2>/dev/null | grep -v '\.lock$' || true)" ] || fail "partial snapshot, offline: outputs left"
# A copy-mode snapshot (symlinks failed) and an empty one (a 401 left the folder) do not block a
# pinned build: the hub's listing decides.
mkcache $WORK/hfc/hub copy $WORK/paths
out=$(HF_HOME=$WORK/hfc "$COCOON" model build -q --images-dir $WORK/copy "t/good@$C" 2>$WORK/err) || fail "copy-mode snapshot: $(cat $WORK/err)"
good_line "$out" "copy-mode snapshot"
mkdir -p $WORK/hfe/hub/models--t--good/snapshots/$C
out=$(HF_HOME=$WORK/hfe "$COCOON" model build -q --images-dir $WORK/empty "t/good@$C" 2>$WORK/err) || fail "empty snapshot: $(cat $WORK/err)"
good_line "$out" "empty snapshot"
# HF_HUB_CACHE and HUGGINGFACE_HUB_CACHE take precedence over HF_HOME (huggingface_hub's order).
for var in HF_HUB_CACHE HUGGINGFACE_HUB_CACHE; do
	out=$(env HF_HOME=$WORK/nothing-here $var=$WORK/hfp/hub HF_HUB_OFFLINE=1 "$COCOON" model build -q --images-dir $WORK/env-$var t/good 2>$WORK/err) ||
		fail "$var ignored: $(cat $WORK/err)"
	good_line "$out" "$var"
done
# A blob that is itself a link (blobs/<sha256 of the good content> -> other bytes): the bytes are
# checked, whatever the names. Offline: refused; online: a fresh download.
b=$(sha256sum < "$REF/model.safetensors" | cut -c1-64); r=$WORK/hfp/hub/models--t--good
head -c "$(stat -c %s "$REF/model.safetensors")" /dev/zero > $r/blobs/evil
rm $r/blobs/$b; ln -s evil $r/blobs/$b
set +e; HF_HOME=$WORK/hfp HF_HUB_OFFLINE=1 "$COCOON" model build -q --images-dir $WORK/evil "t/good@$C" 2>$WORK/err; rc=$?; set -e
[ $rc = 1 ] && grep -q "model.safetensors" $WORK/err || fail "blob link, offline: rc $rc $(cat $WORK/err)"
[ -z "$(ls -A $WORK/evil 2>/dev/null | grep -v '\.lock$' || true)" ] || fail "blob link, offline: outputs left"
out=$(HF_HOME=$WORK/hfp "$COCOON" model build -q --images-dir $WORK/evil2 "t/good@$C" 2>$WORK/err) || fail "blob link, online: $(cat $WORK/err)"
good_line "$out" "blob link, online"
echo ok
