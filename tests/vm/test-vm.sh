#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# End to end in a real Linux guest (Debian 12 kernel under QEMU TCG, see lib.sh), two boots.
# Boot 1, the worker's boot as the guest units in contrib/guest ship it (run by tests/vm/units.sh,
# a stand-in for systemd that runs the units' own ExecStart lines in their Requires= order), with
# the fake libnvidia-ml.so.1 where the driver's library lives and local RIM/OCSP dirs:
#  - starting the worker runs cocoon-gpu-attest.service (`cocoon attest run` accepts the GPU and
#    sets the ready state: exactly one write in the fake's log), then cocoon-model-mount.service
#    (`cocoon model mount --runtime-vars`), then the worker with /run/cocoon/model.env;
#  - `cocoon model mount` found the disks by serial (no udev: /sys/block/*/serial), activated
#    dm-verity (read by the server with O_DIRECT, the mount's read-ahead raised), every file reads back with the right SHA-256 (read and mmap, with parallel
#    readers), model.env holds the spec; the unit's ExecStop (`cocoon model unmount`) removes it;
#  - a missing disk is a clear error naming the serial;
#  - a wrong root hash fails at open (exit 3), naming both hashes, and leaves nothing behind;
#  - with a byte flipped in one file of the tar on the host (third disk), `--runtime-vars`
#    mounts it, that file reads as EIO and every other file still reads right.
# Boot 2, bad evidence (a report replayed for another nonce; then CC off): attest exits 3, the
# fake logs no ready-state write, the mount unit and the worker never start, no dm device, no
# mount, no model.env.
# Skipped (77) only where QEMU cannot run at all.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
: "${CN_MMAP_CAT:?}" "${CN_FAKE_NVML_LIB:?}"
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
sort "$WORK/extra/model.env" >"$WORK/extra/worker.env"

# The boot gate's inputs: the test PKI, RIMs and OCSP answers made with the real tools, the
# worker key the nonce derives from (tests/attest/fake-nvml/make-fixture.sh); the fake NVML
# library goes where the driver's libnvidia-ml.so.1 lives, so the unit's plain `cocoon attest
# run` loads it. The guest's clock is the host's, inside the PKI's and the answers' validity.
(cd "$WORK" && bash "$CN_SOURCE_DIR/tests/attest/fake-nvml/make-fixture.sh" "$WORK/extra/gate" >/dev/null) ||
	vm_fail "cannot make the attestation fixture"
rm -rf "$WORK/extra/gate/req" "$WORK/extra/gate"/*.xml
G=/extra/gate
printf 'COCOON_GPU_ATTEST_ARGS="--device-root %s/dev/root.crt --rim-root %s/rim/root.crt --rim-dir %s/rims --ocsp-dir %s/ocsp --offline --no-cache --nonce-from-key %s/worker.key --expect-gpus 1"\n' \
	$G $G $G $G $G >"$WORK/extra/gpu-attest.env"
# The units exactly as shipped, plus a stub for the reference image's worker: it records the
# model environment it was started with.
mkdir -p "$WORK/extra/units"
cp -r "$CN_SOURCE_DIR/contrib/guest/." "$WORK/extra/units/"
printf '[Unit]\nDescription=stub worker\n[Service]\nType=oneshot\nExecStart=/bin/sh -c %s\n' \
	"'env | grep ^MODEL_ | sort >/run/worker-model.env'" >"$WORK/extra/units/cocoon-worker-runner.service"
cp "$VM_DIR/units.sh" "$WORK/extra/"
NVML_DIR=$(dirname "$(ldd "$COCOON" | awk '$1 ~ /^libc\.so/ {print $3}')")
[ -d "$NVML_DIR" ] || vm_fail "cannot find libc's directory in 'ldd $COCOON'"

# Shared by both boots: the units installed as systemd would find them.
cat >"$WORK/common.sh" <<'COMMON'
ok() { echo "CNVM ok $1"; }
bad() { echo "CNVM fail $1: $2"; }
export DM_DISABLE_UDEV=1
clean() { [ ! -e /dev/mapper/model.tar ] && [ ! -e /run/cocoon/model.env ] && ! grep -q ' /mnt/model ' /proc/mounts; }
mkdir -p /etc/systemd/system /etc/cocoon /mnt/spec/runtime
cp -r /extra/units/. /etc/systemd/system/
cp /extra/gpu-attest.env /etc/cocoon/gpu-attest.env
cp /extra/runtime.vars /mnt/spec/runtime/runtime.vars
. /extra/units.sh
UNIT_EXTERNAL=mnt-spec.mount
export CN_FAKE_NVML_PKI=/extra/gate/dev CN_FAKE_NVML_LOG=/run/fake-nvml.log
d=$(( $(date +%s) - $(cat /extra/host-time) ))
[ $d -gt -600 ] && [ $d -lt 3600 ] && ok clock || bad clock "guest $(date -u), $d s from the host"
# boot_worker: a fresh /run, then start the worker as systemd would (it pulls in the rest).
boot_worker() {
	rm -rf /run/units /run/cocoon /run/fake-nvml.log /run/worker-model.env
	unit_start cocoon-worker-runner.service >/tmp/boot.log 2>&1; rc=$?
	cat /tmp/boot.log
	return $rc
}
writes() { grep -c '^READY-WRITE' /run/fake-nvml.log 2>/dev/null || true; }
COMMON

cat "$WORK/common.sh" >"$WORK/scenario.sh"
cat >>"$WORK/scenario.sh" <<SCEN
# 0. The worker's boot: attest -> ready -> mount -> model.env -> worker.
if boot_worker; then ok boot; else bad boot "worker not started"; fi
[ "\$(cat /run/units/cocoon-gpu-attest.service.rc)" = 0 ] && grep -q '"decision": "accepted"' /run/cocoon/gpu-attestation.json &&
	ok attest || bad attest "\$(cat /run/cocoon/gpu-attestation.json | head -20)"
[ "\$(writes)" = 1 ] && grep -q '^READY-WRITE nvmlSystemSetConfComputeGpusReadyState 1 -> 0\$' /run/fake-nvml.log &&
	ok ready-once || bad ready-once "\$(writes) writes"
[ "\$(cat /run/units/cocoon-model-mount.service.rc)" = 0 ] && ok mount || bad mount "\$(cat /tmp/boot.log)"
grep -q ' /mnt/model fuse.cocoon-model ro,' /proc/mounts && ok mounted-ro || bad mounted-ro "\$(grep model /proc/mounts)"
# The server reads the verity device with O_DIRECT (one copy, one cache) and the mount's
# read-ahead was raised so 1 MiB requests are in flight.
pid=\$(cat /run/cocoon/model-mount.pid)
for fd in /proc/\$pid/fd/*; do
	case "\$(readlink \$fd)" in /dev/mapper/model.tar | /dev/dm-0) ;; *) continue ;; esac
	fl=\$(sed -n 's/^flags:[[:space:]]*//p' /proc/\$pid/fdinfo/\${fd##*/})
	[ \$(( 0\$fl & 040000 )) != 0 ] && echo direct
done >/tmp/direct
grep -q direct /tmp/direct && ok direct-io || bad direct-io "no O_DIRECT fd on the verity device: \$(ls -l /proc/\$pid/fd | tr "\\n" " ")"
[ "\$(cat /sys/class/bdi/0:\$(stat -c %d /mnt/model)/read_ahead_kb)" = 4096 ] && ok readahead || bad readahead "\$(cat /sys/class/bdi/0:*/read_ahead_kb)"
cmp -s /run/cocoon/model.env /extra/model.env && ok model-env || bad model-env "\$(cat /run/cocoon/model.env)"
cmp -s /run/worker-model.env /extra/worker.env && ok worker-env || bad worker-env "\$(cat /run/worker-model.env)"
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
if unit_stop cocoon-model-mount.service 2>/tmp/e && clean && [ ! -e /run/cocoon/model-mount.pid ]; then ok unmount; else bad unmount "\$(cat /tmp/e)"; fi

# 1. A missing disk.
if cocoon model mount --hash-serial model-tar-nothere $SPEC 2>/tmp/e; then bad missing-disk "mounted"
elif grep -q "no disk with serial 'model-tar-nothere'" /tmp/e && clean; then ok missing-disk
else bad missing-disk "\$(cat /tmp/e)"; fi

# 2. A wrong root hash fails at open, naming both.
cocoon model mount test/tiny@0123abcd:$WRONG 2>/tmp/e; rc=\$?
if [ \$rc = 3 ] && grep -q "$WRONG" /tmp/e && grep -q "$ROOT" /tmp/e && clean; then ok wrong-root
else bad wrong-root "exit \$rc: \$(cat /tmp/e)"; fi

# 3. A byte flipped in one file: EIO for that file, the others read right.
if cocoon model mount --data-serial model-tar-bad --runtime-vars /extra/runtime.vars 2>/tmp/e; then ok mount-bad-disk; else bad mount-bad-disk "\$(cat /tmp/e)"; fi
if cat /mnt/model/$BAD >/dev/null 2>/tmp/e; then bad eio "the corrupted file read fine"
elif grep -qi "input/output error" /tmp/e; then ok eio; else bad eio "\$(cat /tmp/e)"; fi
if mmap-cat /mnt/model/$BAD >/tmp/mapped 2>/tmp/e; then bad eio-mmap "the corrupted file mapped fine"; else ok eio-mmap; fi
for f in \$(cut -d' ' -f3 /extra/expected-good.sha); do sha256sum \$f; done >/tmp/good.sha 2>/tmp/e
cmp -s /tmp/good.sha /extra/expected-good.sha && ok others-intact || bad others-intact "\$(diff /extra/expected-good.sha /tmp/good.sha | head -5)"
cocoon model unmount 2>/tmp/e && clean && ok unmount-bad || bad unmount-bad "\$(cat /tmp/e)"
SCEN

# Boot 2: bad evidence, twice (each a fresh /run, as after a reboot).
cat "$WORK/common.sh" >"$WORK/scenario-bad.sh"
cat >>"$WORK/scenario-bad.sh" <<'SCEN'
for mode in replay:x-nvidia-gpu-attestation-report-nonce-match cc-off:ccFeature=0; do
	m=${mode%%:*}
	if CN_FAKE_NVML_FAULT=$m boot_worker; then bad "gate-$m" "the worker started"; continue; fi
	rc=$(cat /run/units/cocoon-gpu-attest.service.rc)
	[ "$rc" = 3 ] && grep -q "rejected.*${mode#*:}" /tmp/boot.log && ok "gate-$m-rejected" ||
		bad "gate-$m-rejected" "attest exit $rc"
	[ -s /run/fake-nvml.log ] && [ "$(writes)" = 0 ] && ok "gate-$m-no-ready" || bad "gate-$m-no-ready" "$(writes) writes"
	if [ -e /run/units/cocoon-model-mount.service.depfail ] && [ ! -e /run/units/cocoon-model-mount.service.rc ] &&
		[ -e /run/units/cocoon-worker-runner.service.depfail ] && [ ! -e /run/worker-model.env ] && clean; then
		ok "gate-$m-no-mount"
	else bad "gate-$m-no-mount" "$(ls /run/units; grep model /proc/mounts)"; fi
done
SCEN

NVML_LIB_GUEST=$NVML_DIR/libnvidia-ml.so.1
vm_prepare "$CN_MMAP_CAT" "$CN_FAKE_NVML_LIB=$NVML_LIB_GUEST"
DISKS=("$T:model-tar" "$T.verity:model-tar-verity")
check() { # LOG CHECK...
	local log=$1 c
	shift
	grep '^CNVM ' "$log"
	for c in "$@"; do
		if ! grep -q "^CNVM ok $c\$" "$log" || grep -q '^CNVM fail' "$log"; then
			cp "$log" "$CN_BUILD_DIR/vm-test-console.log"
			vm_fail "guest check '$c' did not pass (console: $CN_BUILD_DIR/vm-test-console.log)"
		fi
	done
}
export VM_APPEND=cocoon_gpu VM_EXTRA_DIR=$WORK/extra
start=$(date +%s)
date +%s >"$WORK/extra/host-time"
vm_boot "$WORK/console.log" "$WORK/scenario.sh" "${DISKS[@]}" "$WORK/bad.tar:model-tar-bad"
echo "boot 1 + scenario: $(( $(date +%s) - start )) s"
check "$WORK/console.log" clock boot attest ready-once mount mounted-ro direct-io readahead model-env worker-env sha256 \
	mmap parallel read-only unmount missing-disk wrong-root mount-bad-disk eio eio-mmap \
	others-intact unmount-bad
start=$(date +%s)
date +%s >"$WORK/extra/host-time"
vm_boot "$WORK/console-bad.log" "$WORK/scenario-bad.sh" "${DISKS[@]}"
echo "boot 2 + scenario: $(( $(date +%s) - start )) s"
check "$WORK/console-bad.log" clock gate-replay-rejected gate-replay-no-ready gate-replay-no-mount \
	gate-cc-off-rejected gate-cc-off-no-ready gate-cc-off-no-mount
echo ok
