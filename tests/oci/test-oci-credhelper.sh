#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Docker credential helpers against Debian's docker-registry with htpasswd auth (tests/oci/lib.sh):
# fake `docker-credential-*` scripts on PATH. credsStore serves push and pull (the helper gets
# `get` and the registry host on stdin); credHelpers.<host> wins over credsStore; a helper
# without the credentials, a missing helper, a failing helper, a malformed answer and an
# identity token each fail with exit 1 naming the helper, and nothing is published.
: "${COCOON:?}"
source "${CN_SOURCE_DIR:?}/tests/oci/lib.sh"
W=$OCIW/w
mkdir -p $W/src $W/bin $W/dc
head -c 300000 /dev/urandom >$W/src/model.safetensors
line=$("$COCOON" model build -q --from-dir $W/src --images-dir $W/img t/m@c0ffee) || fail "model build"
SPEC=${line% *}
REF=$REG/helper/t/m:c0ffee
# helper NAME BODY: docker-credential-NAME runs BODY (sh) after reading the host into $host.
helper() {
	printf '#!/bin/sh\n[ "$1" = get ] || { echo "unexpected verb $1" >&2; exit 9; }\nread -r host\necho "$host" >>%s/%s.log\n%s\n' \
		"$W" "$1" "$2" >$W/bin/docker-credential-$1
	chmod +x $W/bin/docker-credential-$1
}
helper good "[ \"\$host\" = \"$REG\" ] || { echo 'credentials not found in native keychain'; exit 1; }
printf '{\"ServerURL\":\"%s\",\"Username\":\"alice\",\"Secret\":\"s3cret-pass\"}\\n' \"\$host\""
helper wrong "printf '{\"ServerURL\":\"%s\",\"Username\":\"alice\",\"Secret\":\"nope\"}' \"\$host\""
helper nf "echo 'credentials not found in native keychain'; exit 1"
helper broken "echo 'error getting credentials - err: exit status 1, out: locked' >&2; exit 1"
helper junk "echo 'not json'"
helper token "printf '{\"Username\":\"<token>\",\"Secret\":\"eyJrefresh\"}'"
export PATH=$W/bin:$PATH
export DOCKER_CONFIG=$W/dc
cfg() { printf '%s\n' "$1" >$DOCKER_CONFIG/config.json; }

# 1. credsStore: push and pull with the helper's credentials; it was asked for exactly the host
cfg '{"credsStore":"good"}'
"$COCOON" model push -q --images-dir $W/img "$SPEC" $REF >/dev/null || fail "push with credsStore"
out=$("$COCOON" model pull -q --images-dir $W/p1 $REF "$SPEC") || fail "pull with credsStore"
[ "$out" = "$SPEC $W/p1/t_m@c0ffee.tar" ] || fail "pull: line '$out'"
[ "$(sort -u $W/good.log)" = "$REG" ] || fail "the helper was asked for '$(cat $W/good.log)', not $REG"

# 2. credHelpers.<host> (a URL-style key) wins over credsStore: the wrong password is refused
cfg "{\"credsStore\":\"good\",\"credHelpers\":{\"https://$REG/v1/\":\"wrong\"}}"
set +e
msg=$("$COCOON" model pull -q --images-dir $W/p2 $REF "$SPEC" 2>&1); rc=$?
set -e
[ $rc = 1 ] && echo "$msg" | grep -q "credentials for it from docker-credential-wrong (named in '$DOCKER_CONFIG/config.json') were refused" ||
	fail "credHelpers: exit $rc ($msg)"
[ -s $W/wrong.log ] || fail "credHelpers: the helper was not run"
[ ! -e $W/p2/t_m@c0ffee.tar ] || fail "credHelpers: published"
# ... and a credHelpers entry for another host leaves credsStore in charge
cfg '{"credsStore":"good","credHelpers":{"other.example":"wrong"}}'
"$COCOON" model pull -q --images-dir $W/p3 $REF "$SPEC" >/dev/null || fail "credHelpers for another host"

# expect_fail WHAT PATTERN: a pull fails with exit 1 and a message matching PATTERN, nothing kept
expect_fail() {
	set +e
	msg=$("$COCOON" model pull -q --images-dir $W/p4 $REF "$SPEC" 2>&1)
	rc=$?
	set -e
	[ $rc = 1 ] && echo "$msg" | grep -q "$2" || fail "$1: exit $rc ($msg)"
	[ ! -e $W/p4/t_m@c0ffee.tar ] || fail "$1: published"
}
# 3. the helper has nothing for the host: anonymous, which this registry refuses
cfg '{"credsStore":"nf"}'
expect_fail "not found" "no credentials for it from docker-credential-nf"
# 4. a helper that is not installed
cfg '{"credsStore":"missing"}'
expect_fail "missing helper" "credential helper docker-credential-missing (named in the Docker config) not found"
# 5. a helper that fails: its exit status and message
cfg '{"credsStore":"broken"}'
expect_fail "failing helper" "docker-credential-broken failed for $REG (exit 1): error getting credentials - err: exit status 1, out: locked"
# 6. a malformed answer, an identity token
cfg '{"credsStore":"junk"}'
expect_fail "junk answer" "docker-credential-junk: credential helper answer: invalid JSON"
cfg '{"credsStore":"token"}'
expect_fail "identity token" "identity token (Username '<token>') is not supported"
# 7. a helper name that is a path: refused before anything runs
cfg '{"credsStore":"../../bin/sh"}'
expect_fail "path as name" "'credsStore' is not a credential helper name"
echo ok
