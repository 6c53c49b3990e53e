#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The Bearer realm flow end to end: docker-registry (Distribution 2.8) with `auth: token`, and
# tests/oci/tokenserver.py as the token service (ES256 tokens signed with openssl). Push and
# pull with the Docker config's credentials (sent to the realm only); the scopes asked for;
# anonymous and wrong-password token requests refused with a clear message.
: "${COCOON:?}"
OCI_AUTH=token
source "${CN_SOURCE_DIR:?}/tests/oci/lib.sh"
W=$OCIW/w
mkdir -p $W/src
head -c 200000 /dev/urandom >$W/src/model.bin
line=$("$COCOON" model build -q --from-dir $W/src --images-dir $W/img tok/m@c1) || fail "model build"
SPEC=${line% *}
REF=$REG/fleet/tok/m:c1

out=$("$COCOON" model push -q --json --images-dir $W/img "$SPEC" $REF) || fail "push with a token: $out"
echo "$out" | grep -q '"blobs_uploaded": 3' || fail "push: $out"
grep -q '^alice repository:fleet/tok/m:pull,push' $OCIW/ts/requests || fail "push: scope pull,push not asked: $(cat $OCIW/ts/requests)"
out=$("$COCOON" model pull -q --images-dir $W/p1 $REF "$SPEC") || fail "pull with a token: $out"
cmp $W/img/tok_m@c1.tar $W/p1/tok_m@c1.tar || fail "pull: tar differs"
grep -q '^alice repository:fleet/tok/m:pull$' $OCIW/ts/requests || fail "pull: scope pull not asked"
# no credentials: the token service refuses anonymous access
set +e
msg=$(DOCKER_CONFIG=$W/none "$COCOON" model pull -q --images-dir $W/p2 $REF "$SPEC" 2>&1); rc=$?
set -e
[ $rc = 1 ] && echo "$msg" | grep -q "token service refused anonymous access" || fail "anonymous: exit $rc ($msg)"
# wrong password
mkdir -p $W/bad
printf '{"auths":{"%s":{"username":"alice","password":"nope"}}}' $REG >$W/bad/config.json
set +e
msg=$(DOCKER_CONFIG=$W/bad "$COCOON" model pull -q --images-dir $W/p2 $REF "$SPEC" 2>&1); rc=$?
set -e
[ $rc = 1 ] && echo "$msg" | grep -q "refused the credentials" || fail "wrong password: exit $rc ($msg)"
[ ! -e $W/p2/tok_m@c1.tar ] || fail "published without auth"
echo ok
