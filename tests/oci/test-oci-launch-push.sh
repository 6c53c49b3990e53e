#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# cocoon launch --push against Debian's docker-registry on 127.0.0.1 (tests/oci/lib.sh): a
# builder host prepares a worker (--prepare-only: the model image built, no QEMU) from its
# Hugging Face cache (offline) and pushes the image it built, as build-model --push does; skopeo
# reads the manifest it pushed; a second host (fresh images folder, the hub unreachable) gets
# the image by its spec from the registry. The push key of the config; an image found in the
# store is not pushed (noted); --push without a registry is a usage error (exit 2); a failed
# push exits 1 with the image in place.
: "${COCOON:?}"
source "${CN_SOURCE_DIR:?}/tests/oci/lib.sh"
W=$OCIW/w
NAME=org/pushed-model
C=0123456789abcdef0123456789abcdef01234567
REPO=models/org/pushed-model
NOHUB="HF_ENDPOINT=https://127.0.0.1:1 HF_HUB_DOWNLOAD_TIMEOUT=5"

# The builder's Hugging Face cache: one LFS file (a link into blobs/) and one small file, with
# the listing huggingface_hub leaves in trees/ (an offline build checks the snapshot against it).
R=$W/hf/hub/models--org--pushed-model
mkdir -p $R/blobs $R/snapshots/$C $R/trees
head -c 3000000 /dev/urandom >$W/weights
WS=$(sha256sum <$W/weights | cut -c1-64)
mv $W/weights $R/blobs/$WS
ln -s ../../blobs/$WS $R/snapshots/$C/model.safetensors
echo '{"a":1}' >$R/snapshots/$C/config.json
python3 - $R/snapshots/$C >$R/trees/$C.json <<'PY'
import hashlib, json, os, sys
root, out = sys.argv[1], []
for f in sorted(os.listdir(root)):
    p = os.path.join(root, f); data = open(p, "rb").read()
    e = {"type": "file", "path": f, "size": len(data),
         "oid": hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()}
    if os.path.islink(p):
        e["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data)}
    out.append(e)
json.dump(out, sys.stdout)
PY
OFFLINE="HF_HUB_OFFLINE=1 HF_HOME=$W/hf"

# A worker set-up for --prepare-only: the spec folder and the TON configs (no QEMU, no image).
T=$W/launch
mkdir -p $T/root/spec/spec-worker/runtime
echo X=1 >$T/root/spec/spec-worker/runtime/runtime.vars
echo '{}' >$T/root/spec/mainnet-base-ton-config.json
echo '{}' >$T/root/spec/mainnet-full-ton-config.json
conf() { printf '[node]\ntype = worker\nowner_address = EQ_owner\nmodel = %s\n%s' "$1" "${2:-}" >$T/worker.conf; }
# launch ENV... -- ARGS...: `cocoon launch ARGS worker.conf` with ENV; rc, out, err set.
launch() {
	local envs=()
	while [ "$1" != -- ]; do envs+=("$1"); shift; done
	shift
	set +e
	out=$(cd $T && env COCOON_ROOT=$T/root "${envs[@]}" "$COCOON" launch --run-dir $T/run "$@" worker.conf 2>$W/l.err)
	rc=$?
	set -e
	err=$(cat $W/l.err)
}
puts() { grep -cE "\"PUT /v2/$1/(blobs/uploads|manifests)" $REG_LOG || true; }

# 1. --push without any registry: a usage error naming what is missing (nothing built)
conf "$NAME@$C"
launch $OFFLINE COCOON_REGISTRY= -- --prepare-only --push --models-dir $W/a0
[ $rc = 2 ] || fail "--push alone: exit $rc ($err)"
echo "$err" | grep -q -- "--push needs a registry prefix: give --registry PREFIX" || fail "--push alone: $err"
[ ! -e $W/a0 ] || fail "--push alone: a models folder appeared"
conf "$NAME@$C" "push = true
"
launch $OFFLINE COCOON_REGISTRY= -- --prepare-only --models-dir $W/a0
[ $rc = 2 ] && echo "$err" | grep -q "worker.conf:5: push = 'true' needs a registry prefix" ||
	fail "push key alone: exit $rc ($err)"

# 2. the builder: --prepare-only --push builds from the HF cache, then pushes (3 blobs)
conf "$NAME@$C"
p0=$(puts $REPO)
launch $OFFLINE -- --prepare-only --push --registry $REG/models --models-dir $W/a
[ $rc = 0 ] || fail "builder: exit $rc ($err)"
[ "$out" = "$T/run/cocoon-worker-0/spec" ] || fail "builder: printed '$out'"
TAR=$W/a/org_pushed_model@$C.tar
[ -f $TAR ] && [ -f $TAR.verity ] && [ -f $TAR.hash ] || fail "builder: no image in $W/a"
ROOT=$(cat $TAR.hash)
SPEC=$NAME@$C:$ROOT
REF=$REG/$REPO:$C
echo "$err" | grep -q "registry: pushed $REF@sha256:[0-9a-f]\{64\} (3 blob(s) uploaded, 0 already there" ||
	fail "builder: push note ($err)"
MD=$(echo "$err" | sed -n "s|.*registry: pushed $REF@\(sha256:[0-9a-f]*\) .*|\1|p")
[ "$(puts $REPO)" -gt "$p0" ] || fail "builder: the registry saw no upload"

# 3. an independent client reads the manifest the launcher pushed
if command -v skopeo >/dev/null; then
	skopeo inspect --raw --cert-dir $CERTS --authfile $DOCKER_CONFIG/config.json \
		docker://$REF >$W/skopeo.json || fail "skopeo inspect --raw failed"
	[ "sha256:$(sha256sum <$W/skopeo.json | cut -c1-64)" = "$MD" ] || fail "skopeo: manifest digest differs"
	grep -q "\"dev.cocoon.model.spec\":\"$SPEC\"" $W/skopeo.json || fail "skopeo: spec annotation"
else
	echo "note: skopeo not installed, independent-client check skipped" >&2
fi

# 4. a second host: fresh images folder, no HF cache, the hub unreachable; its worker config
#    pins the full spec and names the registry: the launcher pulls, the same bytes
conf "$SPEC" "registry = $REG/models
"
launch $NOHUB HF_HOME=$W/nohf -- --prepare-only --models-dir $W/b
[ $rc = 0 ] || fail "second host: exit $rc ($err)"
echo "$err" | grep -q "registry: pulled $REF (verified against $ROOT)" || fail "second host: no pull note ($err)"
for s in "" .verity .hash; do cmp $TAR$s $W/b/org_pushed_model@$C.tar$s || fail "second host: $s differs"; done
# ... and so does our own client, by the digest the launcher reported
out=$("$COCOON" model pull -q --images-dir $W/c $REG/$REPO@$MD "$SPEC") || fail "model pull by digest"
cmp $TAR $W/c/org_pushed_model@$C.tar || fail "model pull: tar differs"
# a pulled image is never pushed back, even with --push
p0=$(puts $REPO)
launch $NOHUB HF_HOME=$W/nohf -- --prepare-only --push --models-dir $W/b2
[ $rc = 0 ] && [ "$(puts $REPO)" = "$p0" ] || fail "pull --push: exit $rc, uploads $p0 -> $(puts $REPO) ($err)"
echo "$err" | grep -q "registry: pushed" && fail "pull --push: pushed ($err)"

# 5. the builder again: the image is in its store, so nothing is pushed (noted)
conf "$NAME@$C"
p0=$(puts $REPO)
launch $OFFLINE -- --prepare-only --push --registry $REG/models --models-dir $W/a
[ $rc = 0 ] && [ "$(puts $REPO)" = "$p0" ] || fail "store hit: exit $rc, uploads $p0 -> $(puts $REPO) ($err)"
echo "$err" | grep -q "registry: $NAME@$C was in the image store, not built: not pushed" || fail "store hit: note ($err)"

# 6. the push key with the registry key (another repository), on a fresh store
conf "$NAME@$C" "registry = $REG/cfg
push = yes
"
launch $OFFLINE -- --prepare-only --models-dir $W/d
[ $rc = 0 ] || fail "push key: exit $rc ($err)"
echo "$err" | grep -q "registry: pushed $REG/cfg/org/pushed-model:$C@sha256:" || fail "push key: note ($err)"
cmp $TAR $W/d/org_pushed_model@$C.tar || fail "push key: tar differs"

# 7. a failed push (no credentials): exit 1 naming the push, the image in place
mkdir -p $W/nocreds
echo '{}' >$W/nocreds/config.json
conf "$NAME@$C"
launch $OFFLINE DOCKER_CONFIG=$W/nocreds -- --prepare-only --push --registry $REG/other --models-dir $W/e
[ $rc = 1 ] || fail "failed push: exit $rc ($err)"
echo "$err" | grep -q "model $NAME@$C: the image is in place, but the push to $REG/other/org/pushed-model:$C failed: .*no credentials" ||
	fail "failed push: message ($err)"
cmp $TAR $W/e/org_pushed_model@$C.tar || fail "failed push: image not in place"
echo ok
