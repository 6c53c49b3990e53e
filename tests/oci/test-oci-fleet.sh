#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The fleet path through the one cn_model_fetch (src/acquire registry source), against Debian's
# docker-registry on 127.0.0.1 (tests/oci/lib.sh): one host builds and pushes
# (`model build --push`), `cocoon launch` pulls the exact image before any Hugging Face download,
# with the registry prefix from --registry > the config's `registry` key > $COCOON_REGISTRY; a
# registry without the image falls back to the hub (noted); a failed push exits 1 with the image
# in place; a bad prefix is a configuration error (exit 2).
: "${COCOON:?}"
source "${CN_SOURCE_DIR:?}/tests/oci/lib.sh"
W=$OCIW/w
mkdir -p $W/src
head -c 2000000 /dev/urandom >$W/src/model.safetensors
echo '{"a":1}' >$W/src/config.json
NOHUB="HF_ENDPOINT=https://127.0.0.1:1 HF_HUB_DOWNLOAD_TIMEOUT=5"
gets() { grep -cE '"GET /v2/models/t/m/manifests/c0ffee' $REG_LOG || true; }

# 1. one host builds and pushes under PREFIX/<name>:<commit> (the notes name what was pushed)
line=$("$COCOON" model build --from-dir $W/src --images-dir $W/img --registry $REG/models --push t/m@c0ffee 2>$W/push.err) ||
	fail "build --push: $(cat $W/push.err)"
SPEC=${line% *}
TAR=$W/img/t_m@c0ffee.tar
grep -q "registry: pushed $REG/models/t/m:c0ffee@sha256:.* (3 blob(s) uploaded" $W/push.err || fail "push note: $(cat $W/push.err)"
# again: the image is in the store (cached) and is pushed again, nothing uploaded
"$COCOON" model build --from-dir $W/src --images-dir $W/img --registry $REG/models --push "$SPEC" >/dev/null 2>$W/push2.err || fail "re-push"
grep -q "(0 blob(s) uploaded, 3 already there" $W/push2.err || fail "re-push note: $(cat $W/push2.err)"

# The launch set-up (as tests/oci/test-oci-registry.sh): a worker config for SPEC.
T=$W/launch
mkdir -p $T/root/images/prod $T/root/spec/spec-worker/runtime
for f in image.img image.vmlinuz image.initrd OVMF.fd; do echo $f >$T/root/images/prod/$f; done
printf 'console=hvc0 roothash=abcd\n' >$T/root/images/prod/image.cmdline
echo X=1 >$T/root/spec/spec-worker/runtime/runtime.vars
conf() { printf '[node]\ntype = worker\nowner_address = EQ_owner\nmodel = %s\n%s' "$SPEC" "$1" >$T/worker.conf; }
# launch_build MODELS-DIR [ARGS...]: --just-build with the hub unreachable; rc, out, err set.
launch_build() {
	local d=$1
	shift
	set +e
	out=$(cd $T && env COCOON_ROOT=$T/root $NOHUB "$COCOON" launch --just-build --models-dir $d "$@" worker.conf 2>$W/l.err)
	rc=$?
	set -e
	err=$(cat $W/l.err)
}
pulled() {
	[ $rc = 0 ] || fail "$1: exit $rc ($err)"
	[ "$out" = "$SPEC $2/t_m@c0ffee.tar" ] || fail "$1: line '$out'"
	cmp $TAR $2/t_m@c0ffee.tar || fail "$1: tar differs"
	echo "$err" | grep -q "registry: pulled $REG/models/t/m:c0ffee (verified against ${SPEC##*:})" || fail "$1: no pull note ($err)"
}

# 2. the config's registry key, over $COCOON_REGISTRY (which names a registry that is down)
conf "registry = $REG/models
"
g0=$(gets)
COCOON_REGISTRY=127.0.0.1:1/down launch_build $T/m1
pulled "config key" $T/m1
[ "$(gets)" -gt "$g0" ] || fail "config key: the registry saw no manifest GET"
# 3. --registry over the config key (which names a registry that is down)
conf "registry = 127.0.0.1:1/down
"
launch_build $T/m2 --registry $REG/models
pulled "--registry" $T/m2
# 4. $COCOON_REGISTRY when neither is given
conf ""
COCOON_REGISTRY=$REG/models launch_build $T/m3
pulled "COCOON_REGISTRY" $T/m3
# 5. an empty key turns the environment's registry off: the hub is tried (unreachable), exit 1
conf "registry =
"
COCOON_REGISTRY=$REG/models launch_build $T/m4
[ $rc = 1 ] || fail "empty key: exit $rc ($err)"
echo "$err" | grep -q "registry" && fail "empty key: the registry was used ($err)"
[ ! -e $T/m4/t_m@c0ffee.tar ] || fail "empty key: an image appeared"
# 6. a registry without the image: noted, then the hub (unreachable): exit 1, in that order
conf ""
launch_build $T/m5 --registry $REG/empty
[ $rc = 1 ] || fail "no image: exit $rc ($err)"
echo "$err" | head -1 | grep -q "registry: $REG/empty/t/m:c0ffee not used: .*not found.*; building instead" ||
	fail "no image: first line ($err)"
echo "$err" | grep -q "hub" || fail "no image: the hub was not tried after the registry ($err)"
# 7. a bad prefix is a configuration error naming the key
conf "registry = Not_A_Host/x
"
launch_build $T/m6
[ $rc = 2 ] && echo "$err" | grep -q "registry = 'Not_A_Host/x'" || fail "bad prefix: exit $rc ($err)"
conf ""
COCOON_REGISTRY=nohost launch_build $T/m6
[ $rc = 2 ] && echo "$err" | grep -q "COCOON_REGISTRY: registry prefix 'nohost'" || fail "bad env prefix: exit $rc ($err)"
# 8. --skip-build never touches the registry
g0=$(gets)
launch_build $T/m7 --skip-build --registry $REG/models
[ $rc = 1 ] && [ "$(gets)" = "$g0" ] || fail "--skip-build: exit $rc, registry used ($err)"

# 9. build --registry with the hub unreachable: the registry first; without a root hash the
#    registry is not tried (noted)
out=$(env $NOHUB "$COCOON" model build -q --images-dir $W/b1 --registry $REG/models "$SPEC") || fail "build --registry"
cmp $TAR $W/b1/t_m@c0ffee.tar || fail "build --registry: tar differs"
set +e
msg=$(env $NOHUB HF_HUB_OFFLINE=1 "$COCOON" model build --images-dir $W/b2 --registry $REG/models "${SPEC%:*}" 2>&1)
rc=$?
set -e
[ $rc = 1 ] && echo "$msg" | grep -q "not tried: a registry pull needs the full spec" || fail "no root hash: exit $rc ($msg)"
[ ! -e $W/b2/t_m@c0ffee.tar ] || fail "no root hash: an image appeared"

# 10. a failed push (no credentials): exit 1 naming the push, the image in place
mkdir -p $W/nocreds
echo '{}' >$W/nocreds/config.json
set +e
msg=$(DOCKER_CONFIG=$W/nocreds "$COCOON" model build -q --from-dir $W/src --images-dir $W/b3 --registry $REG/other --push "$SPEC" 2>&1)
rc=$?
set -e
[ $rc = 1 ] && echo "$msg" | grep -q "the image is in place, but the push to $REG/other/t/m:c0ffee failed: .*no credentials" ||
	fail "failed push: exit $rc ($msg)"
cmp $TAR $W/b3/t_m@c0ffee.tar || fail "failed push: image not in place"

# 11. the registry goes away in the middle of a pull (more than the kernel's socket buffers left
#     to send): the pull fails (exit 1) instead of waiting for the rest forever (the trailing
#     hash threads stop), and nothing is published
mkdir -p $W/big
head -c 16000000 /dev/urandom >$W/big/model.safetensors
lb=$("$COCOON" model build -q --from-dir $W/big --images-dir $W/bigimg --registry $REG/models --push t/big@c0ffee 2>/dev/null) || fail "big: build --push"
"$COCOON" model pull -q --max-rate 1000000 --images-dir $W/b4 $REG/models/t/big:c0ffee "${lb% *}" >/dev/null 2>$W/cut.err &
pid=$!
for _ in $(seq 200); do [ -n "$(find $W/b4 -name '.oci-*.partial' -size +500k 2>/dev/null)" ] && break; sleep 0.05; done
kill -9 $REG_PID
reg_stop
for _ in $(seq 300); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
if kill -0 $pid 2>/dev/null; then kill -9 $pid; fail "cut: the pull still runs 30 s after the registry stopped"; fi
set +e; wait $pid; rc=$?; set -e
[ $rc = 1 ] || fail "cut: exit $rc ($(cat $W/cut.err))"
[ ! -e $W/b4/t_big@c0ffee.tar ] || fail "cut: published"
echo ok
