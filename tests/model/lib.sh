#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Shared helpers for the model shell tests (sourced).
set -euo pipefail
: "${COCOON:?}"
export LC_ALL=C
TAR134=$(command -v tar || true)
TAR135="${CN_SHARED_DIR:-}/tools/gnu-tar-1.35"
VERITYSETUP=$(command -v veritysetup || echo /usr/sbin/veritysetup)
UUID=645ac31f-7610-42e1-8434-9d733699eac0
SALT=00010203040506070809101a1b1c1d1e1f

fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*" >&2; exit 77; }
need_tools() {
	[ -n "$TAR134" ] && "$TAR134" --version | grep -q 'GNU tar) 1.34' || skip "GNU tar 1.34 not found"
	[ -x "$TAR135" ] || skip "GNU tar 1.35 not found at $TAR135"
	[ -x "$VERITYSETUP" ] || skip "veritysetup not found"
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/cn-model-test.XXXXXX")
cleanup_work() { chmod -R u+rwx "$WORK" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup_work EXIT

# ref_tar DIR TARBIN OUT: the reference pipeline (scripts/build-model): tar + 4096 padding.
ref_tar() {
	local dir=$1 tarbin=$2 out=$3 size pad
	"$tarbin" -cf "$out" -C "$dir" . --sort=name --format=posix \
		--pax-option='exthdr.name=%d/PaxHeaders/%f' --pax-option='delete=atime,delete=ctime' \
		--clamp-mtime --mtime=@0 --numeric-owner --owner=0 --group=0 --mode='go+u,go-w' 2>/dev/null
	size=$(stat -c %s "$out")
	pad=$((4096 - size % 4096))
	head -c "$pad" /dev/zero >>"$out"
}

# ref_verity TAR OUTPREFIX: veritysetup format with the reference's fixed parameters.
ref_verity() {
	rm -f "$2.verity" "$2.hash"
	"$VERITYSETUP" format --uuid=$UUID --salt=$SALT "$1" "$2.verity" --root-hash-file="$2.hash" >/dev/null
}

# ours DIR SPEC FORMAT IMAGES: prints the tar path.
ours() {
	local line
	line=$("$COCOON" model build -q --from-dir "$1" --images-dir "$4" --tar-format "$3" "$2")
	echo "${line#* }"
}

# compare_tree DIR NAME: ours vs GNU tar 1.34 and 1.35 (+ veritysetup) byte for byte.
compare_tree() {
	local dir=$1 name=$2 fmt bin t
	for fmt in gnu-1.34 gnu-1.35; do
		if [ $fmt = gnu-1.34 ]; then bin=$TAR134; else bin=$TAR135; fi
		ref_tar "$dir" "$bin" "$WORK/ref.tar"
		t=$(ours "$dir" "t/$name@$fmt" $fmt "$WORK/img")
		cmp "$WORK/ref.tar" "$t" || fail "$name: tar differs from GNU tar ($fmt)"
		ref_verity "$WORK/ref.tar" "$WORK/ref"
		cmp "$WORK/ref.verity" "$t.verity" || fail "$name: .verity differs from veritysetup ($fmt)"
		cmp "$WORK/ref.hash" "$t.hash" || fail "$name: .hash differs from veritysetup ($fmt)"
	done
}

# hf_tree_json REPO COMMIT: writes REPO/trees/COMMIT.json, the hub's recursive tree listing of the
# snapshot as huggingface_hub leaves it beside the cache (files only; a link whose blob is named
# by 64 hex digits is an LFS file, its SHA-256 taken from the content as it is now).
hf_tree_json() {
	mkdir -p "$1/trees"
	python3 - "$1/snapshots/$2" > "$1/trees/$2.json" <<'PY'
import hashlib, json, os, sys
root, out = sys.argv[1], []
for d, dirs, files in os.walk(root):
    for f in files:
        p = os.path.join(d, f); data = open(p, "rb").read()
        e = {"type": "file", "path": os.path.relpath(p, root), "size": len(data),
             "oid": hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()}
        t = os.readlink(p) if os.path.islink(p) else ""
        b = os.path.basename(t)
        if len(b) == 64 and all(c in "0123456789abcdef" for c in b):
            e["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data)}
        out.append(e)
json.dump(out, sys.stdout)
PY
}
