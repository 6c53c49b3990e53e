#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Byte-for-byte against the real tools: GNU tar 1.34 and 1.35 with the reference flags, the 4096
# padding, and veritysetup format; every case of specs/model-image.md §2, the §4 vector (published
# hashes), random sizes around 512/4096/10240 and hash-level boundaries, HF cache snapshots.
source "$(dirname "$0")/lib.sh"
need_tools

# --- §4 vector: the published sha256 and root hashes, for both generations ---
V=$WORK/vec; mkdir -p $V/sub/deeper $V/emptydir
printf '{"architectures":["X"]}\n' > $V/config.json; : > $V/empty.txt
printf '#!/bin/sh\necho hi\n' > $V/run.sh; chmod 755 $V/run.sh
head -c 3145728 /dev/zero | openssl enc -aes-128-ctr -nosalt -K 000102030405060708090a0b0c0d0e0f \
	-iv 00000000000000000000000000000000 > $V/model.safetensors
ln -s model.safetensors $V/link.safetensors
printf 'x\n' > "$V/sub/$(printf 'x%.0s' $(seq 1 120)).json"; printf 'z\n' > $V/sub/deeper/z.bin
printf 'f\n' > $V/future.txt; touch -d '2100-01-01 00:00:00' $V/future.txt
printf 'b\n' > $V/a-c; mkdir $V/a; printf 'b\n' > $V/a/b; chmod 0600 $V/config.json
check_vec() {
	local fmt=$1 sha=$2 root=$3 t line
	line=$("$COCOON" model build -q --from-dir $V --images-dir $WORK/vimg --tar-format $fmt "vec/x@$fmt:$root")
	[ "$line" = "vec/x@$fmt:$root $WORK/vimg/vec_x@$fmt.tar" ] || fail "vector $fmt: line '$line'"
	t=${line#* }
	[ "$(sha256sum <"$t" | cut -d' ' -f1)" = "$sha" ] || fail "vector $fmt: sha256 of the padded tar"
	[ "$(stat -c %s "$t")" = 3166208 ] || fail "vector $fmt: padded size"
	[ "$(stat -c %s "$t.verity")" = 36864 ] || fail "vector $fmt: .verity size"
	[ "$(cat "$t.hash")" = "$root" ] || fail "vector $fmt: .hash"
	[ "$(stat -c %s "$t.hash")" = 64 ] || fail "vector $fmt: .hash must have no newline"
}
check_vec gnu-1.34 1771fa2242bbd1f3a6714e2f768ed593303d99ce5f66eda8821520497b166986 b7f2e0a43e9bc56333c5263af462e249ea1978b1636ed2b7bbe06501a5f4eb2d
check_vec gnu-1.35 3f1b702a3382050016aea8cef3445fa54c5620093573c7b638c00787df42b1b3 e300011593c6fd3a83dace9c64f567ceea8ba2b6f40a46ca8869d3908ec5794c
compare_tree $V vector

# --- every §2 case in one tree ---
T=$WORK/tree; mkdir -p $T
cd $T
for n in .gitattributes 10 9 B Z _ a a-b a_b a.json; do printf '%s\n' "$n" > "$n" 2>/dev/null || true; done
rm -f a; mkdir -p a/sub; printf 'x' > a/sub/f
printf 'é\n' > "$(printf '\xc3\xa9')"                  # UTF-8 name: pax path
printf 'latin\n' > "$(printf 'caf\xe9.txt')"           # Latin-1 name: raw bytes, pax path not UTF-8
printf 'c' > "$(printf 'ctl\ttab\x7fdel\x1besc')"; printf 'n' > "$(printf 'new\nline')"; printf 'b' > 'back\slash'  # ASCII controls
n98=$(printf 'n%.0s' $(seq 1 98)); n99=$(printf 'm%.0s' $(seq 1 99))
printf '100' > "$n98"                                  # "./"+98 = exactly 100 bytes: no pax
printf '101' > "$n99"                                  # 101 bytes: pax path, name truncated
mkdir "$(printf 'd%.0s' $(seq 1 97))"                  # "./"+97+"/" = 100 bytes
mkdir "$(printf 'D%.0s' $(seq 1 110))"                 # 110-char folder: pax path for the dir
printf 'deep' > "$(printf 'D%.0s' $(seq 1 110))/inner.txt"
mkdir -p emptydir nested/deeper/deepest
printf 'hl' > nested/orig.bin; ln nested/orig.bin hardlink.bin; ln nested/orig.bin zz-second-link.bin
mkdir -p "$(printf 'L%.0s' $(seq 1 100))"; printf 'long' > "$(printf 'L%.0s' $(seq 1 100))/first.bin"
ln "$(printf 'L%.0s' $(seq 1 100))/first.bin" zz-hardlink-long-target   # linkpath record
ln -s "$(printf 'x%.0s' $(seq 1 150))" long-symlink      # dangling, target > 100: pax linkpath
ln -s nested/orig.bin rel-symlink
ln -s nested dir-symlink; ln -s dir-symlink/deeper/../orig.bin via-symlink  # through in-tree links
ln -s . self-dir; ln -s self-dir/nested/./orig.bin via-self
ln -s "$(printf 'caf\xe9.txt')" latin-symlink          # non-ASCII target: raw bytes, no pax
printf 'ro' > readonly.txt; chmod 0400 readonly.txt
printf 'x' > exec.sh; chmod 0711 exec.sh
printf 'g' > groupw.txt; chmod 0664 groupw.txt
truncate -s 5M sparse.bin; printf 'tail' >> sparse.bin   # holes are stored as zeros
printf 'f' > future.txt; touch -d '2100-01-01' future.txt
chmod 0700 nested/deeper
mkdir setgid-dir sticky-dir; chmod 2775 setgid-dir; chmod 1777 sticky-dir   # special mode bits
printf 's' > setgid-dir/suid; chmod 4755 setgid-dir/suid
head -c 4097 /dev/urandom > rand4097.bin
cd - >/dev/null
compare_tree $T cases

# --- random sizes around 512, 4096, 10240 (records) and 128-block (hash level) boundaries ---
RANDOM=4242
for round in 1 2 3 4 5 6; do
	R=$WORK/rand$round; mkdir -p $R
	for i in $(seq 1 $((RANDOM % 6 + 1))); do
		base=$(( (RANDOM % 4 == 0) ? 512 : (RANDOM % 3 == 0) ? 4096 : (RANDOM % 2 == 0) ? 10240 : 524288 ))
		mult=$((RANDOM % 3 + 1)); delta=$((RANDOM % 5 - 2))
		size=$((base * mult + delta)); [ $size -ge 0 ] || size=0
		head -c $size /dev/urandom > $R/f$i.bin
	done
	compare_tree $R rand$round
done
# Whole-tar sizes giving 3, 126, 128 (one hash level) and 131 data blocks (two levels).
for recs in 1 50 51 52; do
	R=$WORK/recs$recs; mkdir -p $R
	# One file: header 512 + data + 1024 EOF fits exactly into recs records.
	head -c $((recs * 10240 - 2048)) /dev/urandom > $R/blob.bin
	compare_tree $R recs$recs
	t=$WORK/img/t_recs${recs}@gnu-1.35.tar
	case $recs in 1) want=3;; 50) want=126;; 51) want=128;; 52) want=131;; esac
	[ $(( $(stat -c %s $t) / 4096 )) = $want ] || fail "records $recs: expected $want data blocks"
done

# --- hash-level geometry against veritysetup on big sparse "tars" (a tar exists, no .hash) ---
for n in 1 2 127 128 129 16383 16384 16385; do
	img=$WORK/geo$n; mkdir -p $img
	truncate -s $((n * 4096)) "$img/geo@c$n.tar"
	printf 'X' | dd of="$img/geo@c$n.tar" bs=1 seek=$(( (n - 1) * 4096 + 7 )) conv=notrunc status=none
	line=$("$COCOON" model build -q --images-dir $img "geo@c$n")
	ref_verity "$img/geo@c$n.tar" "$WORK/georef"
	cmp "$WORK/georef.verity" "$img/geo@c$n.tar.verity" || fail "geometry $n blocks: .verity differs"
	cmp "$WORK/georef.hash" "$img/geo@c$n.tar.hash" || fail "geometry $n blocks: .hash differs"
	[ "${line%% *}" = "geo@c$n:$(cat "$WORK/georef.hash")" ] || fail "geometry $n: line '$line'"
done

# --- Hugging Face cache snapshot: symlinks into blobs/ become 0644 files, as a plain download ---
H=$WORK/hf; C=0123456789abcdef0123456789abcdef01234567
repo=$H/hub/models--org--m; mkdir -p $repo/blobs $repo/snapshots/$C/sub $repo/refs
# Blobs are named as the HF client names them: git blob SHA-1 (small files) or SHA-256 (LFS);
# the build checks each blob against its name (cn_hub_cache_check).
gitoid() { { printf 'blob %d\0' "$(stat -c %s "$1")"; cat "$1"; } | sha1sum | cut -c1-40; }
printf '{"a":1}\n' > $WORK/b1; head -c 70000 /dev/urandom > $WORK/b2; printf 'readme\n' > $WORK/b3
b1=$(gitoid $WORK/b1); b2=$(sha256sum < $WORK/b2 | cut -c1-64); b3=$(gitoid $WORK/b3)
mv $WORK/b1 $repo/blobs/$b1; mv $WORK/b2 $repo/blobs/$b2; mv $WORK/b3 $repo/blobs/$b3; chmod 0600 $repo/blobs/$b2
ln -s ../../blobs/$b1 $repo/snapshots/$C/config.json
ln -s ../../../blobs/$b2 $repo/snapshots/$C/sub/model.safetensors
ln -s ../../blobs/$b3 $repo/snapshots/$C/README.md
ln -s ../../blobs/$b3 $repo/snapshots/$C/README-copy.md
printf '%s' $C > $repo/refs/main
P=$WORK/plain; mkdir -p $P/sub; cp -L $repo/snapshots/$C/config.json $repo/snapshots/$C/README.md $repo/snapshots/$C/README-copy.md $P/
cp -L $repo/snapshots/$C/sub/model.safetensors $P/sub/; chmod 0644 $P/*.json $P/*.md $P/sub/*
ref_tar $P "$TAR135" $WORK/hfref.tar
line=$(HF_HOME=$H HF_HUB_OFFLINE=1 "$COCOON" model build -q --images-dir $WORK/hfimg org/m@$C)
cmp $WORK/hfref.tar "${line#* }" || fail "HF cache snapshot: tar differs from a plain download's"
# By revision name, offline (refs/main).
line2=$(HF_HOME=$H HF_HUB_OFFLINE=1 "$COCOON" model build -q --images-dir $WORK/hfimg2 org/m)
[ "${line2%% *}" = "${line%% *}" ] || fail "HF cache via refs/main: '$line2'"
# LFS blobs are named by the SHA-256 of their content: a correct one passes, a corrupted one
# (huggingface_hub#3643) is refused with both hashes and no outputs.
H2=$WORK/hf2; repo2=$H2/hub/models--org--lfs; mkdir -p $repo2/blobs $repo2/snapshots/$C
head -c 50000 /dev/urandom > $WORK/w.bin; good=$(sha256sum < $WORK/w.bin | cut -c1-64)
cp $WORK/w.bin $repo2/blobs/$good; ln -s ../../blobs/$good $repo2/snapshots/$C/model.safetensors
HF_HOME=$H2 "$COCOON" model build -q --images-dir $WORK/lfsimg org/lfs@$C >/dev/null || fail "good LFS blob refused"
python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); assert m["files"][0]["sha256"]==sys.argv[2], m' \
	$WORK/lfsimg/org_lfs@$C.tar.manifest.json $good || fail "manifest sha256 of the LFS file"
python3 -c 'import sys; f=open(sys.argv[1],"r+b"); f.seek(100); b=f.read(1); f.seek(100); f.write(bytes([b[0]^1]))' $repo2/blobs/$good  # always a change
# (The CLI checks the cache's blobs first, src/net; the build checks LFS names in its own pass.)
set +e; err=$(HF_HUB_OFFLINE=1 HF_HOME=$H2 "$COCOON" model build -q --images-dir $WORK/lfsimg2 org/lfs@$C 2>&1); rc=$?; set -e
[ $rc = 1 ] && [[ "$err" == *"$good"* ]] || fail "corrupted LFS blob: rc $rc: $err"
no_outputs() { [ -z "$(ls -A "$1" 2>/dev/null | grep -v '\.lock$' || true)" ] || fail "$2: outputs left"; }
no_outputs $WORK/lfsimg2 "corrupted LFS blob"
# A snapshot symlink leaving blobs/ is refused, with no outputs.
ln -s /etc/hostname $repo/snapshots/$C/evil
set +e; err=$(HF_HOME=$H "$COCOON" model build -q --images-dir $WORK/hfimg3 org/m@$C 2>&1); rc=$?; set -e
[ $rc = 1 ] || fail "escaping HF symlink: rc $rc"
[[ "$err" == *"blobs/"* ]] || fail "escaping HF symlink message: $err"
[ -z "$(ls -A $WORK/hfimg3 | grep -v '\.lock$' || true)" ] || fail "escaping HF symlink left outputs"
echo ok
