#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# The live RIM and OCSP clients, the cache and bundles against loopback stand-ins: nvstub.py
# (HTTPS, RIM service + OCSP front) routing each OCSP request to a real `openssl ocsp` responder
# per issuer, with index files from a test PKI. Asserts claims, exit codes and messages.
set -euo pipefail
: "${COCOON:?}" "${CN_MKREPORT:?}" "${CN_SOURCE_DIR:?}"
for t in openssl xmlsec1 python3; do
	command -v $t >/dev/null || { echo "SKIP: $t missing"; exit 77; }
done
T=$(mktemp -d)
. "$CN_SOURCE_DIR/tests/attest/live/lib.sh"
trap 'stub_stop_all; rm -rf "$T"' EXIT
cd "$T"
live_setup 1

C_CHAIN=x-nvidia-gpu-attestation-report-cert-chain
stub_start good index.txt 60 0
URLS="--rim-url https://127.0.0.1:$PORT_good --ocsp-url https://127.0.0.1:$PORT_good/"
DEAD=$(dead_port)
DEADURLS="--rim-url https://127.0.0.1:$DEAD --ocsp-url https://127.0.0.1:$DEAD/"

verify() { # NAME EXPECTED-RC EVIDENCE [options...]
	local name=$1 want=$2 ev=$3 rc=0 nonce=$N
	shift 3
	[ "$ev" = good2.json ] && nonce=$N2
	"$COCOON" attest verify --nonce $nonce --evidence "$ev" --device-root dev/root.crt \
		--rim-root rim/root.crt --live-report "$name.live" "$@" > "$name.out" 2> "$name.err" || rc=$?
	[ "$rc" = "$want" ] || { cat "$name.err" >&2; fail "$name: exit $rc, expected $want"; }
	! grep -q "cannot write --live-report" "$name.err" || fail "$name: $(cat "$name.err")"
}
claims() { # NAME PYTHON-ASSERTION (c = GPU 0 claims, d = document, L = live report)
	python3 - "$1" "$2" <<'PY' || fail "$1: $2"
import json, os, sys
d = json.load(open(sys.argv[1] + ".out"))
c = d["gpus"][0]["claims"]
L = json.load(open(sys.argv[1] + ".live")) if os.path.exists(sys.argv[1] + ".live") else None
chains = [c[k] for k in ("x-nvidia-gpu-attestation-report-cert-chain",
                         "x-nvidia-gpu-driver-rim-cert-chain", "x-nvidia-gpu-vbios-rim-cert-chain")]
assert eval(sys.argv[2]), (sys.argv[2], d.get("reason"), [x for x in chains])
PY
}

# --- live: good, everything fetched, nonce echoed, cache written 0700 ------------------------
verify live 0 good.json $URLS --cache-dir cache
claims live 'all(x["x-nvidia-cert-ocsp-nonce-matches"] is True and x["x-nvidia-cert-ocsp-status"] == "good" for x in chains)'
claims live 'all(r["origin"].startswith("https://") for r in L["rims"]) and len(L["ocsp"]) == 5 and all(o["origin"].startswith("https://") for o in L["ocsp"])'
claims live 'L["batches"] == 2'
[ "$(stat -c %a cache)" = 700 ] || fail "cache mode $(stat -c %a cache)"
[ "$(ls cache/rim | wc -l)" = 2 ] && [ "$(ls cache/ocsp | wc -l)" = 5 ] || fail "cache entries"

# --- OCSP statuses from `openssl ocsp` --------------------------------------------------------
sed "s/^V\(\t[^\t]*\t\)\t\($(serial dev/brom.crt)\)/R\1$(date -u +%y%m%d%H%M%SZ),keyCompromise\t\2/" index.txt > index-revoked.txt
sed "s/^V\(\t[^\t]*\t\)\t\($(serial rim/signer.crt)\)/R\1$(date -u +%y%m%d%H%M%SZ),certificateHold\t\2/" index.txt > index-hold.txt
grep -v "$(serial dev/brom.crt)" index.txt > index-unknown.txt
for s in revoked hold unknown; do stub_start $s index-$s.txt 60 0; done
p() { eval "echo \$PORT_$1"; }
u() { echo "--rim-url https://127.0.0.1:$(p "$1") --ocsp-url https://127.0.0.1:$(p "$1")/"; }
verify revoked 3 good.json $(u revoked) --no-cache
claims revoked 'chains[0]["x-nvidia-cert-ocsp-status"] == "revoked" and chains[0]["x-nvidia-cert-revocation-reason"] == "keyCompromise"'
verify hold 3 good.json $(u hold) --no-cache
claims hold 'chains[1]["x-nvidia-cert-ocsp-status"] == "revoked" and chains[1]["x-nvidia-cert-revocation-reason"] == "certificateHold"'
verify unknown 3 good.json $(u unknown) --no-cache
claims unknown 'chains[0]["x-nvidia-cert-ocsp-status"] == "unknown"'

# a responder the issuer did not authorise: answers for the ICA's certificates signed by identity
stub_start unauth index.txt 60 0 --responder dev/ica.crt,dev/identity.crt,dev/identity.key,index.txt,60
verify unauth 3 good.json $(u unauth) --no-cache
claims unauth 'chains[0]["x-nvidia-cert-ocsp-response-valid"] is False'
grep -q responder unauth.out || fail "unauth: reason does not name the responder"

# an expired answer (nextUpdate 1 minute ahead, verified 10 minutes later)
stub_start short index.txt 1 0
verify expired 3 good.json $(u short) --no-cache --time "$(date -u -d '+10 min' +%Y-%m-%dT%H:%M:%SZ)"
claims expired 'chains[0]["x-nvidia-cert-ocsp-response-valid"] is False'
grep -q stale expired.out || fail "expired: no 'stale' reason"

# --- outage with a valid cache: RIMs and OCSP from the cache, nonce not echoed, accepted ----
verify outage 0 good2.json $DEADURLS --cache-dir cache --net-timeout 5
claims outage 'all(x["x-nvidia-cert-ocsp-nonce-matches"] is False and x["x-nvidia-cert-ocsp-status"] == "good" for x in chains)'
claims outage 'all(r["origin"].startswith("cache/") for r in L["rims"] + L["ocsp"])'
grep -q "cannot connect to 'https://127.0.0.1:$DEAD/'" outage.err || fail "outage: no warning naming the URL"
verify offline 0 good2.json --offline --cache-dir cache
verify offline-empty 3 good.json --offline --cache-dir empty-cache

# --- outage with an expired cache: refused, naming the expired answer ---------------------------
LATER=$(date -u -d '+3 hours' +%Y-%m-%dT%H:%M:%SZ)
verify outage-expired 3 good2.json $DEADURLS --cache-dir cache --time "$LATER"
grep -q "cache/ocsp/[0-9a-f]*.entry' expired: nextUpdate" outage-expired.err || fail "outage-expired: message"
verify max-age 3 good2.json --offline --cache-dir cache --ocsp-max-age 1s --time "$(date -u -d '+30 sec' +%Y-%m-%dT%H:%M:%SZ)"
grep -q "older than the maximum age" max-age.out || fail "max-age: reason"

# --- a corrupt entry is ignored and fetched again ---------------------------------------------
f=$(ls cache/ocsp/*.entry | head -1)
python3 -c "import sys; b = bytearray(open(sys.argv[1], 'rb').read()); b[-10] ^= 1; open(sys.argv[1], 'wb').write(b)" "$f"
verify corrupt-down 1 good2.json $DEADURLS --cache-dir cache --net-timeout 3
grep -q "checksum mismatch" corrupt-down.err || fail "corrupt entry not reported"
verify corrupt-live 0 good.json $URLS --cache-dir cache
verify corrupt-fixed 0 good2.json --offline --cache-dir cache
r=$(ls cache/rim/*.entry | head -1)
head -c 100 "$r" > x && mv x "$r" # truncated RIM entry: fetched again
verify rim-truncated 0 good.json $URLS --cache-dir cache
claims rim-truncated 'sum(r["origin"].startswith("https://") for r in L["rims"]) == 1'

# --- two runs at once on an empty cache ---------------------------------------------------------
( verify twin1 0 good.json $URLS --cache-dir twin ) & a=$!
( verify twin2 0 good.json $URLS --cache-dir twin ) & b=$!
wait $a || fail "twin1"
wait $b || fail "twin2"
verify twin-offline 0 good2.json --offline --cache-dir twin

# --- bundles --------------------------------------------------------------------------------
"$COCOON" attest bundle --evidence good.json --out bundle $URLS --no-cache --rim-root rim/root.crt > b.out
grep -q "2 RIMs, 5 OCSP answers" b.out || fail "bundle: $(cat b.out)"
verify from-bundle 0 good2.json --bundle bundle --no-cache
claims from-bundle 'all("bundle/" in o["origin"] for o in L["ocsp"])'
"$COCOON" attest bundle --rim-id NV_GPU_DRIVER_GH100_550.90.07 --out bundle2 $URLS --no-cache \
	--rim-root rim/root.crt > b2.out
grep -q "1 RIMs, 2 OCSP answers" b2.out || fail "bundle --rim-id: $(cat b2.out)"
rc=0; "$COCOON" attest bundle --out x 2>/dev/null || rc=$?; [ $rc = 2 ] || fail "bundle usage: $rc"

# --- the RIM service's faults ---------------------------------------------------------------------
DRV=NV_GPU_DRIVER_GH100_550.90.07
rimfault() { # NAME ID EXPECTED-RC PATTERN [options]
	local rc=0
	"$COCOON" attest bundle --rim-id "$2" --out "b-$1" $URLS --no-cache --rim-root rim/root.crt \
		"${@:5}" > "$1.out" 2> "$1.err" || rc=$?
	[ "$rc" = "$3" ] || { cat "$1.err" >&2; fail "$1: exit $rc, expected $3"; }
	[ -z "$4" ] || grep -q -- "$4" "$1.err" || { cat "$1.err" >&2; fail "$1: no '$4'"; }
}
rimfault mismatch T_MISMATCH_$DRV 1 "not the requested 'T_MISMATCH_$DRV'"
rimfault 404 T_404_$DRV 1 "no RIM at 'https://127.0.0.1:$PORT_good/v1/rim/T_404_$DRV' (HTTP 404)"
rimfault flaky T_FLAKY_$DRV 0 ""
start=$(date +%s%N)
rimfault ratelimit T_RATE_$DRV 0 ""
[ $(( ($(date +%s%N) - start) / 1000000 )) -ge 900 ] || fail "ratelimit: Retry-After: 1 not honoured"
start=$(date +%s%N)
rimfault stall T_STALL_$DRV 1 "https://127.0.0.1:$PORT_good/v1/rim/T_STALL_$DRV" --net-timeout 2
[ $(( ($(date +%s%N) - start) / 1000000 )) -lt 6000 ] || fail "stall: not bounded by --net-timeout"
rimfault huge T_HUGE_$DRV 1 "exceeds"
rimfault badjson T_BADJSON_$DRV 1 "not JSON"
rimfault badb64 T_BADB64_$DRV 1 "base64"

# --- OCSP transport faults ----------------------------------------------------------------------
ocspfault() { # NAME PATH EXPECTED-RC PATTERN
	verify "$1" "$3" good.json --rim-url "https://127.0.0.1:$PORT_good" \
		--ocsp-url "https://127.0.0.1:$PORT_good$2" --no-cache --net-timeout 5
	grep -q -- "$4" "$1.err" || { cat "$1.err" >&2; fail "$1: no '$4'"; }
}
ocspfault ocsp-500 /500/ 1 "HTTP 500 from 'https://127.0.0.1:$PORT_good/500/'"
ocspfault ocsp-trylater /trylater/ 1 "answered trylater"
ocspfault ocsp-down /down/ 1 "https://127.0.0.1:$PORT_good/down/"
# a stored answer rescues each of them
verify ocsp-500-cached 0 good2.json --rim-url "https://127.0.0.1:$PORT_good" \
	--ocsp-url "https://127.0.0.1:$PORT_good/500/" --cache-dir cache --net-timeout 5
# --- HTTP/2 where the server offers it: nghttpd (an HTTP/2-only server) serving the RIM bodies ---
if command -v nghttpd >/dev/null; then
	VB=NV_GPU_VBIOS_1010_0200_882_96009F0001
	mkdir -p h2/v1/rim
	for id in $DRV $VB; do
		python3 -c 'import base64, json, sys; x = open(sys.argv[2], "rb").read()
print(json.dumps({"id": sys.argv[1], "rim": base64.b64encode(x).decode()}))' $id rims/$id.xml > h2/v1/rim/$id
	done
	H2=$(dead_port)
	nghttpd -a 127.0.0.1 -d h2 "$H2" tls/server.key tls/server.pem >/dev/null 2>&1 &
	STUB_PIDS+=($!)
	for _ in $(seq 50); do python3 -c "import socket; socket.create_connection(('127.0.0.1', $H2), 1)" 2>/dev/null && break; sleep 0.1; done
	"$COCOON" attest bundle --rim-id $DRV --rim-id $VB --out bundle-h2 --rim-url "https://127.0.0.1:$H2" \
		--ocsp-url "https://127.0.0.1:$PORT_good/" --no-cache --rim-root rim/root.crt --json > h2.json
	python3 -c 'import json, sys; L = json.load(open("h2.json"))
assert [r["http"] for r in L["rims"]] == ["2", "2"], L["rims"]
assert all(o["http"] == "1.1" for o in L["ocsp"]), L["ocsp"]
assert L["connections"] <= 3, L  # both RIMs over one HTTP/2 connection, 2 for the 2 OCSP requests' || fail "http2: $(cat h2.json)"
else
	echo "nghttpd missing (nghttp2-server): HTTP/2 not tested"
fi
echo "all live-service tests passed"
