#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# End to end in a real Linux guest (Debian 12 kernel under QEMU TCG, see lib.sh), one boot:
#  - a missing disk is a clear error naming the serial;
#  - a wrong root hash fails at open (exit 3), naming both hashes, and leaves nothing behind;
#  - `cocoon model mount SPEC` finds the disks by serial (no udev: /sys/block/*/serial),
#    activates dm-verity, every file reads back with the right SHA-256 (read and mmap, with
#    parallel readers), model.env holds the spec; `cocoon model unmount` removes it all;
#  - with a byte flipped in one file of the tar on the host (third disk), `--runtime-vars`
#    mounts it, that file reads as EIO and every other file still reads right.
# Skipped (77) only where QEMU cannot run at all.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
: "${CN_MMAP_CAT:?}"
vm_check_host
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cn-vm-test.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# The model: shards, small files, a subfolder; built by cocoon like on the host.
S=$WORK/src; mkdir -p "$S/sub"
head -c 3000000 /dev/urandom >"$S/model-00001-of-00002.safetensors"
head -c 2500000 /dev/urandom >"$S/model-00002-of-00002.safetensors"
printf '{"architectures":["X"]}\n' >"$S/config.json"
head -c 70000 /dev/urandom >"$S/tokenizer.json"
printf 'z\n' >"$S/sub/z.bin"
line=$("$COCOON" model build -q --from-dir "$S" --images-dir "$WORK/img" test/tiny@0123abcd)
T=${line#* }; SPEC=${line%% *}; ROOT=${SPEC##*:}
WRONG=$(printf '%s' "$ROOT" | sed 's/^./f/'); [ "$WRONG" != "$ROOT" ] || WRONG=$(printf '%s' "$ROOT" | sed 's/^./0/')
(cd "$S" && find . -type f | sort | xargs -d '\n' sha256sum | sed 's| \./| /mnt/model/|') >"$WORK/expected.sha"

# The corrupted copy: one byte flipped in the middle of the first shard.
BAD=model-00001-of-00002.safetensors
cp "$T" "$WORK/bad.tar"
python3 - "$WORK/bad.tar" "$S/$BAD" <<'PY'
import sys
tar = bytearray(open(sys.argv[1], 'rb').read()); src = open(sys.argv[2], 'rb').read()
off = tar.find(src[:4096]); assert off > 0 and tar[off:off + len(src)] == src
tar[off + len(src) // 2] ^= 0x01
open(sys.argv[1], 'wb').write(tar)
PY

mkdir -p "$WORK/extra"
cp "$WORK/expected.sha" "$WORK/extra/"
printf 'MODEL_NAME=test/tiny\nMODEL_COMMIT=0123abcd\nMODEL_VERITY_HASH=%s\n' "$ROOT" >"$WORK/extra/runtime.vars"
printf 'MODEL_NAME=test/tiny\nMODEL_COMMIT=0123abcd\nMODEL_VERITY_HASH=%s\nMODEL_PATH=/mnt/model\n' "$ROOT" >"$WORK/extra/model.env"
grep -v " /mnt/model/$BAD\$" "$WORK/expected.sha" >"$WORK/extra/expected-good.sha"

cat >"$WORK/scenario.sh" <<SCEN
ok() { echo "CNVM ok \$1"; }
bad() { echo "CNVM fail \$1: \$2"; }
export DM_DISABLE_UDEV=1
clean() { [ ! -e /dev/mapper/model.tar ] && [ ! -e /run/cocoon/model.env ] && ! grep -q ' /mnt/model ' /proc/mounts; }

# 1. A missing disk.
if cocoon model mount --hash-serial model-tar-nothere $SPEC 2>/tmp/e; then bad missing-disk "mounted"
elif grep -q "no disk with serial 'model-tar-nothere'" /tmp/e && clean; then ok missing-disk
else bad missing-disk "\$(cat /tmp/e)"; fi

# 2. A wrong root hash fails at open, naming both.
cocoon model mount test/tiny@0123abcd:$WRONG 2>/tmp/e; rc=\$?
if [ \$rc = 3 ] && grep -q "$WRONG" /tmp/e && grep -q "$ROOT" /tmp/e && clean; then ok wrong-root
else bad wrong-root "exit \$rc: \$(cat /tmp/e)"; fi

# 3. The good disks.
if cocoon model mount $SPEC >/tmp/o 2>/tmp/e; then ok mount; else bad mount "\$(cat /tmp/e)"; fi
grep -q ' /mnt/model fuse.cocoon-model ro,' /proc/mounts && ok mounted-ro || bad mounted-ro "\$(grep model /proc/mounts)"
cmp -s /run/cocoon/model.env /extra/model.env && ok model-env || bad model-env "\$(cat /run/cocoon/model.env)"
find /mnt/model -type f | sort | xargs sha256sum >/tmp/got.sha 2>/tmp/e
cmp -s /tmp/got.sha /extra/expected.sha && ok sha256 || bad sha256 "\$(diff /extra/expected.sha /tmp/got.sha | head -5) \$(cat /tmp/e)"
for f in /mnt/model/model-00001-of-00002.safetensors /mnt/model/model-00002-of-00002.safetensors; do
	w=\$(grep " \$f\\\$" /extra/expected.sha | cut -d' ' -f1)
	g=\$(mmap-cat \$f | sha256sum | cut -d' ' -f1)
	[ "\$w" = "\$g" ] || bad mmap "\$f: \$g"
done && ok mmap
echo 3 >/proc/sys/vm/drop_caches
for i in 1 2 3 4; do sha256sum /mnt/model/model-0000\$(( i % 2 + 1 ))-of-00002.safetensors >/tmp/par.\$i & done
wait
cat /tmp/par.* | sort -u >/tmp/par
[ "\$(wc -l </tmp/par)" = 2 ] && grep -qF "\$(head -n1 /tmp/par)" /extra/expected.sha && grep -qF "\$(tail -n1 /tmp/par)" /extra/expected.sha && ok parallel || bad parallel "\$(cat /tmp/par)"
if echo x >/mnt/model/config.json 2>/dev/null; then bad read-only "write worked"; else ok read-only; fi
if cocoon model unmount 2>/tmp/e && clean && [ ! -e /run/cocoon/model-mount.pid ]; then ok unmount; else bad unmount "\$(cat /tmp/e)"; fi

# 4. A byte flipped in one file: EIO for that file, the others read right.
if cocoon model mount --data-serial model-tar-bad --runtime-vars /extra/runtime.vars 2>/tmp/e; then ok mount-bad-disk; else bad mount-bad-disk "\$(cat /tmp/e)"; fi
if cat /mnt/model/$BAD >/dev/null 2>/tmp/e; then bad eio "the corrupted file read fine"
elif grep -qi "input/output error" /tmp/e; then ok eio; else bad eio "\$(cat /tmp/e)"; fi
if mmap-cat /mnt/model/$BAD >/tmp/mapped 2>/tmp/e; then bad eio-mmap "the corrupted file mapped fine"; else ok eio-mmap; fi
for f in \$(cut -d' ' -f3 /extra/expected-good.sha); do sha256sum \$f; done >/tmp/good.sha 2>/tmp/e
cmp -s /tmp/good.sha /extra/expected-good.sha && ok others-intact || bad others-intact "\$(diff /extra/expected-good.sha /tmp/good.sha | head -5)"
cocoon model unmount 2>/tmp/e && clean && ok unmount-bad || bad unmount-bad "\$(cat /tmp/e)"
SCEN

vm_prepare "$CN_MMAP_CAT"
LOG=$WORK/console.log
start=$(date +%s)
VM_EXTRA_DIR=$WORK/extra vm_boot "$LOG" "$WORK/scenario.sh" "$T:model-tar" "$T.verity:model-tar-verity" "$WORK/bad.tar:model-tar-bad"
echo "boot + scenario: $(( $(date +%s) - start )) s"
grep '^CNVM ' "$LOG"
if grep -q '^CNVM fail' "$LOG"; then
	cp "$LOG" "$CN_BUILD_DIR/vm-test-console.log"
	vm_fail "guest checks failed (console: $CN_BUILD_DIR/vm-test-console.log)"
fi
for c in missing-disk wrong-root mount mounted-ro model-env sha256 mmap parallel read-only unmount \
	mount-bad-disk eio eio-mmap others-intact unmount-bad; do
	grep -q "^CNVM ok $c\$" "$LOG" || { cp "$LOG" "$CN_BUILD_DIR/vm-test-console.log"; vm_fail "guest check '$c' did not pass"; }
done
echo ok
