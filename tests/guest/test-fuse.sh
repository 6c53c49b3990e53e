#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The FUSE tar server on the host (no dm-verity here: the VM test covers that), serving an
# image built by `cocoon model build`: every file reads back with the source's SHA-256, modes
# and mtimes as in the tar (GNU tar lists them), symlinks and hardlinks, mmap reads, parallel
# readers, the mount is read-only, and a truncated tar is refused at index time.
# Skipped (77) where FUSE cannot be mounted (no /dev/fuse, not allowed).
set -euo pipefail
: "${COCOON:?}" "${CN_FUSE_SERVE:?}"
export LC_ALL=C
fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*" >&2; exit 77; }
[ -c /dev/fuse ] || skip "no /dev/fuse"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cn-guest-fuse.XXXXXX")
MNT=$WORK/mnt
PID=
cleanup() {
	if mountpoint -q "$MNT" 2>/dev/null; then umount "$MNT" 2>/dev/null || fusermount3 -u "$MNT" 2>/dev/null || true; fi
	[ -n "$PID" ] && wait "$PID" 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT
S=$WORK/src; mkdir -p "$S/sub/deeper" "$S/emptydir" "$MNT"
head -c 5000000 /dev/urandom >"$S/model-00001-of-00002.safetensors"
head -c 1234567 /dev/urandom >"$S/model-00002-of-00002.safetensors"
printf '{"architectures":["X"]}\n' >"$S/config.json"; : >"$S/empty.txt"
printf '#!/bin/sh\necho hi\n' >"$S/run.sh"; chmod 755 "$S/run.sh"; chmod 600 "$S/config.json"
printf 'x\n' >"$S/sub/$(printf 'x%.0s' $(seq 1 120)).json"; printf 'z\n' >"$S/sub/deeper/z.bin"
ln -s model-00002-of-00002.safetensors "$S/link.safetensors"
line=$("$COCOON" model build -q --from-dir "$S" --images-dir "$WORK/img" o/m@c)
T=${line#* }

mount_tar() { # TAR: serve it at $MNT in the background, wait for the mount
	"$CN_FUSE_SERVE" "$1" "$MNT" 2>"$WORK/serve.err" &
	PID=$!
	for _ in $(seq 1 100); do
		mountpoint -q "$MNT" && return 0
		kill -0 $PID 2>/dev/null || break
		sleep 0.1
	done
	wait $PID && rc=0 || rc=$?
	PID=
	[ $rc = 77 ] && skip "FUSE mount not possible here: $(cat "$WORK/serve.err")"
	fail "fuse-serve exited $rc: $(cat "$WORK/serve.err")"
}
unmount() { umount "$MNT" || fusermount3 -u "$MNT"; wait $PID || fail "server exit status $?"; PID=; }

mount_tar "$T"
# Content: every regular file, by SHA-256, against the source tree.
(cd "$S" && find . -type f | sort | xargs -d '\n' sha256sum) >"$WORK/want"
(cd "$MNT" && find . -type f | sort | xargs -d '\n' sha256sum) >"$WORK/got"
cmp "$WORK/want" "$WORK/got" || fail "file contents differ: $(diff "$WORK/want" "$WORK/got" | head -5)"
# Names, types, modes and sizes: as GNU tar lists the archive (symlink modes aside); mtimes 0.
tar -tvf "$T" | awk '{m=$1; if (m ~ /^l/) m="l"; s=($1 ~ /^-/) ? $3 : 0; n=$6; sub(/\/$/, "", n);
	if (n != ".") print m, s, n}' | sort >"$WORK/a"
(cd "$MNT" && find . -mindepth 1 -printf '%M %s ./%P\n') |
	awk '{m=$1; if (m ~ /^l/) m="l"; s=(m ~ /^-/) ? $2 : 0; print m, s, $3}' | sort >"$WORK/b"
[ "$(wc -l <"$WORK/a")" -ge 10 ] || fail "tar -tv listed too little"
cmp "$WORK/a" "$WORK/b" || fail "metadata differs from tar -tv: $(diff "$WORK/a" "$WORK/b" | head -6)"
[ "$(find "$MNT" -printf '%T@\n' | sort -u)" = 0.0000000000 ] || fail "an mtime is not 0"
[ "$(readlink "$MNT/link.safetensors")" = model-00002-of-00002.safetensors ] || fail "symlink target"
[ "$(stat -c %a "$MNT/run.sh")" = 755 ] && [ "$(stat -c %a "$MNT/config.json")" = 644 ] || fail "modes"
[ "$(stat -c %Y "$MNT/config.json")" = 0 ] || fail "mtime is not 0"
[ -d "$MNT/emptydir" ] && [ -z "$(ls -A "$MNT/emptydir")" ] || fail "empty directory"
# mmap (safetensors loaders mmap the shards) and parallel readers.
python3 - "$MNT/model-00001-of-00002.safetensors" "$S/model-00001-of-00002.safetensors" <<'PY' || fail "mmap read differs"
import hashlib, mmap, sys
with open(sys.argv[1], 'rb') as f, mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) as m:
    got = hashlib.sha256(m[len(m) // 3:] + m[:len(m) // 3]).hexdigest()
want = open(sys.argv[2], 'rb').read(); want = hashlib.sha256(want[len(want) // 3:] + want[:len(want) // 3]).hexdigest()
sys.exit(0 if got == want else 1)
PY
pids=()
for i in 1 2 3 4 5 6; do
	sha256sum "$MNT"/model-0000$(( (i % 2) + 1 ))-of-00002.safetensors >"$WORK/par.$i" &
	pids+=($!)
done
wait "${pids[@]}"
for i in 1 2 3 4 5 6; do
	f=model-0000$(( (i % 2) + 1 ))-of-00002.safetensors
	[ "$(cut -d' ' -f1 "$WORK/par.$i")" = "$(sha256sum <"$S/$f" | cut -d' ' -f1)" ] || fail "parallel reader $i"
done
# Read-only.
if (echo x >"$MNT/config.json") 2>/dev/null; then fail "write succeeded"; fi
if touch "$MNT/new" 2>/dev/null; then fail "create succeeded"; fi
grep -q " $MNT fuse.cocoon-model ro," /proc/mounts || fail "not a read-only cocoon-model mount"
unmount

# A tar cut short (the end of a file's data is missing) is refused before mounting.
head -c $(( $(stat -c %s "$T") / 2 )) "$T" >"$WORK/short.tar"
if "$CN_FUSE_SERVE" "$WORK/short.tar" "$MNT" 2>"$WORK/short.err"; then fail "short tar mounted"; fi
grep -q "runs past the end\|truncated" "$WORK/short.err" || fail "short tar: $(cat "$WORK/short.err")"
mountpoint -q "$MNT" && fail "mounted after a refused tar"
echo ok
