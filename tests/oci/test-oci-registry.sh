#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# cocoon model push/pull against Debian's docker-registry (Distribution 2.8) on 127.0.0.1 with
# TLS and htpasswd auth (tests/oci/lib.sh), and skopeo as an independent client:
#  push; skopeo reads our manifest; pull = the same bytes; re-push uploads nothing (our
#  counters and the registry's access log); chunked push; cross-repository mount; wrong
#  expected root hash; missing tag; auth failures; a tampered blob in the registry's storage;
#  an interrupted pull that resumes.
: "${COCOON:?}"
source "${CN_SOURCE_DIR:?}/tests/oci/lib.sh"
command -v curl >/dev/null || skip "curl missing"
W=$OCIW/w
mkdir -p $W/src/sub
head -c 3000000 /dev/urandom >$W/src/model.safetensors
echo '{"a":1}' >$W/src/config.json
echo x >$W/src/sub/tok.txt
line=$("$COCOON" model build -q --from-dir $W/src --images-dir $W/img t/m@c0ffee) || fail "model build"
SPEC=${line% *}
ROOT=${SPEC##*:}
TAR=$W/img/t_m@c0ffee.tar
REF=$REG/models/t/m:c0ffee

# 1. push: three blobs uploaded
out=$("$COCOON" model push -q --json --images-dir $W/img "$SPEC" $REF) || fail "push: $out"
echo "$out" | grep -q '"blobs_uploaded": 3' || fail "push: expected 3 uploads: $out"
MD=$(echo "$out" | sed -n 's/.*"manifest_digest": "\(sha256:[0-9a-f]*\)".*/\1/p')
[ -n "$MD" ] || fail "push: no manifest digest"

# 2. skopeo, an independent client, reads the manifest we pushed
if command -v skopeo >/dev/null; then
	skopeo inspect --raw --cert-dir $CERTS --authfile $DOCKER_CONFIG/config.json \
		docker://$REF >$W/skopeo.json || fail "skopeo inspect --raw failed"
	[ "sha256:$(sha256sum <$W/skopeo.json | cut -c1-64)" = "$MD" ] || fail "skopeo: manifest digest differs"
	grep -q '"artifactType":"application/vnd.cocoon.model.image.v1"' $W/skopeo.json || fail "skopeo: artifactType"
	grep -q "\"dev.cocoon.model.spec\":\"$SPEC\"" $W/skopeo.json || fail "skopeo: spec annotation"
else
	echo "note: skopeo not installed, independent-client check skipped" >&2
fi

# 3. pull into an empty store: the same bytes, the model build line
out=$("$COCOON" model pull -q --images-dir $W/p1 $REF "$SPEC") || fail "pull: $out"
[ "$out" = "$SPEC $W/p1/t_m@c0ffee.tar" ] || fail "pull: line '$out'"
for s in "" .verity .hash .manifest.json; do
	cmp $TAR$s $W/p1/t_m@c0ffee.tar$s || fail "pull: t_m@c0ffee.tar$s differs"
done
[ -z "$(find $W/p1 -name '.oci-*')" ] || fail "pull: partial files left behind"
out=$("$COCOON" model pull -q --json --images-dir $W/p1 $REF --root-hash $ROOT) || fail "second pull"
echo "$out" | grep -q '"cached": true' || fail "second pull not served from the store"
# pinned by digest: no root hash needed
"$COCOON" model pull -q --images-dir $W/p2 $REG/models/t/m@$MD >/dev/null || fail "pull by digest"
cmp $TAR $W/p2/t_m@c0ffee.tar || fail "pull by digest: tar differs"

# 4. re-push: nothing uploaded (our counters, and no blob PUT/PATCH in the registry's log)
before=$(grep -cE '"(PUT|PATCH) /v2/models/t/m/blobs/' $REG_LOG || true)
out=$("$COCOON" model push -q --json --images-dir $W/img "$SPEC" $REF) || fail "re-push"
echo "$out" | grep -q '"blobs_uploaded": 0' || fail "re-push uploaded: $out"
echo "$out" | grep -q '"blobs_present": 3' || fail "re-push: $out"
after=$(grep -cE '"(PUT|PATCH) /v2/models/t/m/blobs/' $REG_LOG || true)
[ "$before" = "$after" ] || fail "re-push: the registry saw blob uploads ($before -> $after)"

# 5. chunked upload to another repository, then a cross-repository mount
out=$("$COCOON" model push -q --json --chunk-size 1048576 --images-dir $W/img "$SPEC" $REG/chunked/m:v1) || fail "chunked push: $out"
echo "$out" | grep -q '"blobs_uploaded": 3' || fail "chunked push: $out"
grep -qE '"PATCH /v2/chunked/m/blobs/uploads/' $REG_LOG || fail "chunked push: no PATCH seen"
out=$("$COCOON" model push -q --json --mount-from models/t/m --images-dir $W/img "$SPEC" $REG/mounted/m:v1) || fail "mount push: $out"
echo "$out" | grep -q '"blobs_mounted": 2' || fail "mount push: $out"
"$COCOON" model pull -q --images-dir $W/p3 $REG/chunked/m:v1 "$SPEC" >/dev/null || fail "pull of the chunked push"
cmp $TAR $W/p3/t_m@c0ffee.tar || fail "chunked push: tar differs"

# 6. wrong expected root hash: refused (exit 3) before any download, nothing published
BAD=$(printf '%064d' 0)
set +e
msg=$("$COCOON" model pull -q --images-dir $W/p4 $REF --root-hash $BAD 2>&1); rc=$?
set -e
[ $rc = 3 ] || fail "wrong root hash: exit $rc ($msg)"
echo "$msg" | grep -q "expected $BAD" || fail "wrong root hash: message '$msg'"
[ -z "$(ls -A $W/p4 2>/dev/null | grep -v lock)" ] || fail "wrong root hash: something published"
# without any expectation: a usage error
set +e; "$COCOON" model pull -q --images-dir $W/p4 $REF 2>/dev/null; rc=$?; set -e
[ $rc = 2 ] || fail "pull without an expected root: exit $rc"

# 7. missing tag
set +e
msg=$("$COCOON" model pull -q --images-dir $W/p4 $REG/models/t/m:nope --root-hash $ROOT 2>&1); rc=$?
set -e
[ $rc = 1 ] && echo "$msg" | grep -q "not found" || fail "missing tag: exit $rc ($msg)"

# 8. auth failures: no credentials, wrong password
set +e
msg=$(DOCKER_CONFIG=$W/none "$COCOON" model pull -q --images-dir $W/p4 $REF --root-hash $ROOT 2>&1); rc=$?
set -e
[ $rc = 1 ] && echo "$msg" | grep -q "no credentials" || fail "no credentials: exit $rc ($msg)"
mkdir -p $W/badcfg
printf '{"auths":{"https://%s":{"auth":"%s"}}}' $REG "$(printf alice:wrong | base64 -w0)" >$W/badcfg/config.json
set +e
msg=$(DOCKER_CONFIG=$W/badcfg "$COCOON" model push -q --images-dir $W/img "$SPEC" $REF 2>&1); rc=$?
set -e
[ $rc = 1 ] && echo "$msg" | grep -q "were refused" || fail "wrong password: exit $rc ($msg)"
# an untrusted TLS server
set +e
msg=$(REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt "$COCOON" model pull -q --images-dir $W/p4 $REF --root-hash $ROOT 2>&1); rc=$?
set -e
[ $rc = 3 ] && echo "$msg" | grep -q "not trusted" || fail "untrusted TLS: exit $rc ($msg)"

# 9. interrupted pull that resumes: kill -9 in the middle, then pull again
"$COCOON" model pull -q --max-rate 400000 --images-dir $W/p5 $REF "$SPEC" >/dev/null 2>&1 &
PID=$!
for _ in $(seq 100); do
	p=$(find $W/p5 -name '.oci-*.partial' -size +300k 2>/dev/null | head -1 || true)
	[ -n "$p" ] && break
	sleep 0.1
done
kill -9 $PID 2>/dev/null || true
wait $PID 2>/dev/null || true
[ -n "$p" ] || fail "resume: no partial download appeared"
[ ! -e $W/p5/t_m@c0ffee.tar ] || fail "resume: published before the end"
out=$("$COCOON" model pull -q --json --images-dir $W/p5 $REF "$SPEC") || fail "resumed pull: $out"
resumed=$(echo "$out" | sed -n 's/.*"bytes_resumed": \([0-9]*\).*/\1/p')
[ "${resumed:-0}" -gt 300000 ] || fail "resume: bytes_resumed=$resumed ($out)"
cmp $TAR $W/p5/t_m@c0ffee.tar || fail "resume: tar differs"
[ -z "$(find $W/p5 -name '.oci-*')" ] || fail "resume: partial left behind"

# 10. build-model --registry: the exact spec comes from the registry, no hub involved;
#     model build --push: one host builds and pushes, under PREFIX/<name>:<commit>
out=$(HF_HUB_OFFLINE=1 HF_ENDPOINT=https://127.0.0.1:1 "$COCOON" model build -q --images-dir $W/p7 --registry $REG/models "$SPEC") || fail "build --registry: $out"
[ "$out" = "$SPEC $W/p7/t_m@c0ffee.tar" ] || fail "build --registry: line '$out'"
cmp $TAR $W/p7/t_m@c0ffee.tar || fail "build --registry: tar differs"
COCOON_REGISTRY=$REG/fleet "$COCOON" model build -q --from-dir $W/src --images-dir $W/img --push "$SPEC" >/dev/null || fail "build --push"
"$COCOON" model pull -q --images-dir $W/p8 $REG/fleet/t/m:c0ffee "$SPEC" >/dev/null || fail "pull of the build --push"
set +e; "$COCOON" model build -q --from-dir $W/src --images-dir $W/img --push "$SPEC" 2>/dev/null; rc=$?; set -e
[ $rc = 2 ] || fail "--push without a registry: exit $rc"

# cocoon launch --just-build with $COCOON_REGISTRY: the image comes from the registry
T=$W/launch
mkdir -p $T/root/images/prod $T/root/spec/spec-worker/runtime
for f in image.img image.vmlinuz image.initrd OVMF.fd; do echo $f >$T/root/images/prod/$f; done
printf 'console=hvc0 roothash=abcd\n' >$T/root/images/prod/image.cmdline
echo X=1 >$T/root/spec/spec-worker/runtime/runtime.vars
printf '[node]\ntype = worker\nowner_address = EQ_owner\nmodel = %s\n' "$SPEC" >$T/worker.conf
out=$(cd $T && COCOON_ROOT=$T/root COCOON_REGISTRY=$REG/models HF_HUB_OFFLINE=1 HF_ENDPOINT=https://127.0.0.1:1 \
	"$COCOON" launch --just-build --models-dir $T/models worker.conf 2>$W/launch.err) || fail "launch --just-build: $(cat $W/launch.err)"
[ "$out" = "$SPEC $T/models/t_m@c0ffee.tar" ] || fail "launch --just-build: line '$out'"
cmp $TAR $T/models/t_m@c0ffee.tar || fail "launch --just-build: tar differs"

# 11. a consistent but wrong set: the manifest and config of image A (annotation and config name
#     A's root hash), the layers of image B (valid digests): refused by the verity root
mkdir -p $W/srcb
head -c 100000 /dev/urandom >$W/srcb/other.bin
lineb=$("$COCOON" model build -q --from-dir $W/srcb --images-dir $W/imgb t/m@c0ffee) || fail "build B"
"$COCOON" model push -q --images-dir $W/imgb "${lineb% *}" $REG/models/t/m:b >/dev/null || fail "push B"
curl -sf --cacert $REQUESTS_CA_BUNDLE -u alice:s3cret-pass -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
	https://$REG/v2/models/t/m/manifests/b >$W/b.json || fail "get manifest B"
python3 - $W/skopeo.json $W/b.json >$W/forged.json <<'PY'
import json, sys
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))
a["layers"] = b["layers"]
sys.stdout.write(json.dumps(a, separators=(",", ":")))
PY
curl -sf --cacert $REQUESTS_CA_BUNDLE -u alice:s3cret-pass -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
	--data-binary @$W/forged.json https://$REG/v2/models/t/m/manifests/forged >/dev/null || fail "put the forged manifest"
set +e
msg=$("$COCOON" model pull -q --images-dir $W/p9 $REG/models/t/m:forged "$SPEC" 2>&1); rc=$?
set -e
ROOTB=${lineb% *}
ROOTB=${ROOTB##*:}
[ $rc = 3 ] && echo "$msg" | grep -q "has root hash $ROOTB, expected $ROOT" || fail "forged: exit $rc ($msg)"
[ ! -e $W/p9/t_m@c0ffee.tar ] && [ -z "$(find $W/p9 -name '.oci-*')" ] || fail "forged: something kept"

# 12. a tampered blob in the registry's storage: refused, named, nothing published
TD=$(sed -n 's/.*"layers":\[{"mediaType":"application\/vnd.cocoon.model.tar.v1","digest":"\(sha256:[0-9a-f]*\)".*/\1/p' $W/skopeo.json)
[ -n "$TD" ] || TD="sha256:$(sha256sum <$TAR | cut -c1-64)"
B=$(reg_blob $TD)
[ -f "$B" ] || fail "tamper: blob file $B not found"
printf 'X' | dd of="$B" bs=1 seek=1000000 conv=notrunc status=none
set +e
msg=$("$COCOON" model pull -q --images-dir $W/p6 $REF "$SPEC" 2>&1); rc=$?
set -e
[ $rc = 3 ] || fail "tamper: exit $rc ($msg)"
echo "$msg" | grep -q "tar blob $TD has digest" || fail "tamper: message '$msg'"
[ ! -e $W/p6/t_m@c0ffee.tar ] && [ ! -e $W/p6/t_m@c0ffee.tar.hash ] || fail "tamper: published"
[ ! -e $W/p6/.oci-${TD#sha256:}.partial ] || fail "tamper: the wrong blob was kept"
echo "ok"
