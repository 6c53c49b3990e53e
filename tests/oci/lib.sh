#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Shared by the OCI tests and bench/model-pull (sourced): a Distribution 2.8 registry
# (Debian's docker-registry) on 127.0.0.1 with TLS from a throw-away PKI (openssl) and htpasswd
# auth, started here and stopped on exit. Sets REG (host:port), REG_STORE, REG_LOG,
# REQUESTS_CA_BUNDLE, DOCKER_CONFIG (credentials of user alice), CERTS (for skopeo).
set -euo pipefail
export LC_ALL=C
fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*" >&2; exit 77; }
REGISTRY_BIN=$(command -v docker-registry || true)
[ -n "$REGISTRY_BIN" ] || skip "docker-registry (Debian package docker-registry) not installed"
command -v htpasswd >/dev/null || skip "htpasswd (apache2-utils) not installed"
command -v openssl >/dev/null && command -v python3 >/dev/null || skip "openssl or python3 missing"
unset CURL_CA_BUNDLE https_proxy HTTPS_PROXY all_proxy ALL_PROXY

OCIW=$(mktemp -d "${TMPDIR:-/tmp}/cn-oci-test.XXXXXX")
REG_PID=
reg_stop() {
	if [ -n "$REG_PID" ]; then kill "$REG_PID" 2>/dev/null || true; wait "$REG_PID" 2>/dev/null || true; fi
	REG_PID=
}
TS_PID=
oci_cleanup() {
	reg_stop
	if [ -n "$TS_PID" ]; then kill "$TS_PID" 2>/dev/null || true; wait "$TS_PID" 2>/dev/null || true; fi
	rm -rf "$OCIW"
}
trap oci_cleanup EXIT

pki() {
	local d=$OCIW/pki
	mkdir -p $d $OCIW/certs
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $d/ca.key \
		-out $d/ca.pem -days 2 -subj /CN=cocoon-test-ca \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $d/srv.key \
		-out $d/srv.csr -subj /CN=127.0.0.1 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >$d/ext
	openssl x509 -req -in $d/srv.csr -CA $d/ca.pem -CAkey $d/ca.key -CAcreateserial \
		-out $d/srv.pem -days 2 -extfile $d/ext 2>/dev/null
	cp $d/ca.pem $OCIW/certs/ca.crt
}

# reg_start: (re)starts the registry on the same port and storage.
reg_start() {
	"$REGISTRY_BIN" serve $OCIW/config.yml >>$REG_LOG 2>&1 &
	REG_PID=$!
	for _ in $(seq 100); do
		curl -s -o /dev/null --cacert $REQUESTS_CA_BUNDLE https://$REG/v2/ && return 0
		sleep 0.1
	done
	fail "docker-registry did not start (see $REG_LOG: $(tail -3 $REG_LOG))"
}

pki
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
REG=127.0.0.1:$PORT
REG_STORE=$OCIW/store
REG_LOG=$OCIW/registry.log
export REQUESTS_CA_BUNDLE=$OCIW/pki/ca.pem
CERTS=$OCIW/certs
htpasswd -Bbn alice s3cret-pass >$OCIW/htpasswd 2>/dev/null
cat >$OCIW/config.yml <<EOC
version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $REG_STORE
  delete:
    enabled: true
http:
  addr: $REG
  tls:
    certificate: $OCIW/pki/srv.pem
    key: $OCIW/pki/srv.key
EOC
if [ "${OCI_AUTH:-htpasswd}" = token ]; then
	# Bearer: tests/oci/tokenserver.py signs ES256 tokens the registry verifies (x5c header).
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $OCIW/pki/tok.key \
		-out $OCIW/pki/tok.pem -days 2 -subj /CN=cocoon-test-token 2>/dev/null
	mkdir -p $OCIW/ts
	python3 "$(dirname "${BASH_SOURCE[0]}")/tokenserver.py" --dir $OCIW/ts --cert $OCIW/pki/srv.pem \
		--key $OCIW/pki/srv.key --signing-key $OCIW/pki/tok.key --signing-cert $OCIW/pki/tok.pem \
		--issuer cocoon-test-issuer --user alice --password s3cret-pass --lifetime 600 &
	TS_PID=$!
	for _ in $(seq 100); do [ -f $OCIW/ts/port ] && break; sleep 0.1; done
	[ -f $OCIW/ts/port ] || fail "token server did not start"
	cat >>$OCIW/config.yml <<EOC
auth:
  token:
    realm: https://127.0.0.1:$(cat $OCIW/ts/port)/token
    service: cocoon-test-registry
    issuer: cocoon-test-issuer
    rootcertbundle: $OCIW/pki/tok.pem
EOC
else
	cat >>$OCIW/config.yml <<EOC
auth:
  htpasswd:
    realm: cocoon-test
    path: $OCIW/htpasswd
EOC
fi
export DOCKER_CONFIG=$OCIW/docker
mkdir -p $DOCKER_CONFIG
printf '{"auths":{"%s":{"auth":"%s"}}}\n' "$REG" "$(printf alice:s3cret-pass | base64 -w0)" >$DOCKER_CONFIG/config.json
reg_start

# reg_blob DIGEST: the path of a blob in the registry's storage.
reg_blob() { local h=${1#sha256:}; echo "$REG_STORE/docker/registry/v2/blobs/sha256/${h:0:2}/$h/data"; }
