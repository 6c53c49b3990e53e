#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# End to end: a test device PKI and a RIM PKI made with `openssl`, synthetic reports signed with
# the test leaf (tests/attest/mkreport.c), RIMs signed with `xmlsec1`
# (tests/attest/rim/make-test-rim.sh), OCSP responses produced by `openssl ocsp` from the
# requests `cocoon attest ocsp-request` writes. The reference policy must accept the good
# evidence, and each single defect must flip exactly the claim it concerns and the decision.
set -euo pipefail
: "${COCOON:?}" "${CN_MKREPORT:?}" "${CN_SOURCE_DIR:?}" "${CN_SHARED_DIR:?}"
. "$CN_SOURCE_DIR/tests/attest/e2e-setup.sh"

verify() { # NAME EXPECTED-RC [options...]
	local name=$1 want=$2 rc=0
	shift 2
	"$COCOON" attest verify --nonce $N --device-root dev/root.crt --rim-root rim/root.crt \
		--rim-dir rims "$@" > "$name.out" 2> "$name.err" || rc=$?
	[ "$rc" = "$want" ] || { cat "$name.err" >&2; fail "$name: exit $rc, expected $want"; }
}

cat > check.py <<'PY'
import json, sys
CLAIMS = json.load(open(sys.argv[1]))["authorization-rules"]["detached-claims"]
KEYS = list(CLAIMS) + ["x-nvidia-gpu-vbios-index-no-conflict"]
def claims(path):
    d = json.load(open(path))
    return d, d["gpus"][0]["claims"]
base_doc, base = claims(sys.argv[2])
doc, c = claims(sys.argv[3])
want = set(sys.argv[4].split(",")) if sys.argv[4] else set()
diff = {k for k in KEYS if base.get(k) != c.get(k)}
assert diff == want, f"{sys.argv[3]}: differing claims {sorted(diff)}, expected {sorted(want)}"
assert doc["result"] == "rejected" and doc["x-nvidia-overall-att-result"] is False, doc["result"]
assert doc["policy"]["accepted"] is False
assert doc["gpus"][0]["failures"], "no failure recorded"
PY
POLICY=$CN_SHARED_DIR/reference/attest_policy.json
[ -f "$POLICY" ] || POLICY=$CN_SOURCE_DIR/tests/attest/reference-policy.json

# --- the good evidence passes the reference policy (file) and the built-in default ----------
verify base 0 --evidence good.json --ocsp-dir ocsp --policy "$POLICY"
verify base-default 0 --evidence good.json --ocsp-dir ocsp --eat eat-none.json
python3 - "$POLICY" base.out <<'PY'
import json, sys
rules = json.load(open(sys.argv[1]))["authorization-rules"]
d = json.load(open(sys.argv[2]))
assert d["result"] == "accepted" and d["x-nvidia-overall-att-result"] is True
g = d["gpus"][0]
assert g["failures"] == [], g["failures"]
m = g["measurements"]
assert m["compared"] == 33 and m["matched"] == 33 and m["mismatched"] == 0, m
c = g["claims"]
def sub(rule, tok):
    for k, v in rule.items():
        assert k in tok, k
        if isinstance(v, dict): sub(v, tok[k])
        else: assert tok[k] == v and type(tok[k]) == type(v), (k, tok[k], v)
sub(rules["detached-claims"], c)
sub(rules["overall-claims"], d["overall-claims"])
for k in ("x-nvidia-gpu-attestation-report-cert-chain", "x-nvidia-gpu-driver-rim-cert-chain",
          "x-nvidia-gpu-vbios-rim-cert-chain"):
    assert c[k]["x-nvidia-cert-ocsp-nonce-matches"] is True and c[k]["x-nvidia-cert-ocsp-response-valid"] is True
assert c["secboot"] is True and c["dbgstat"] == "disabled" and c["oemid"] == "5703"
assert c["hwmodel"] == "GH100 A01 GSP BROM"
for p in ("parse", "chain", "signature", "ocsp", "rim", "compare", "total"):
    assert p in g["timings_ms"], p
assert "total" in d["timings_ms"]
PY

# --- the EAT: alg none by default, ES384 with --signing-key; submods = SHA-256 of GPU JWTs ---
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out eat.key 2>/dev/null
openssl pkey -in eat.key -pubout -out eat.pub
verify eat 0 --evidence good.json --ocsp-dir ocsp --eat eat-es384.json --signing-key eat.key
check_eat() { # FILE ALG
	python3 - "$1" "$2" <<'PY'
import base64, hashlib, json, sys
eat = json.load(open(sys.argv[1]))
def part(s):
    return json.loads(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))
assert eat[0][0] == "JWT"
h, p, s = eat[0][1].split(".")
assert part(h)["alg"] == sys.argv[2]
ov = part(p)
assert ov["iss"] == "LOCAL_GPU_VERIFIER" and ov["x-nvidia-ver"] == "3.0" and ov["x-nvidia-overall-att-result"] is True
assert list(eat[1]) == ["GPU-0"]
for gid, jwt in eat[1].items():
    assert ov["submods"][gid] == ["DIGEST", ["SHA256", hashlib.sha256(jwt.encode()).hexdigest()]]
    assert part(jwt.split(".")[1])["measres"] == "success"
    assert part(jwt.split(".")[0])["alg"] == sys.argv[2]
if sys.argv[2] == "none":
    assert s == ""
else:
    sig = base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
    assert len(sig) == 96
    def der_int(b):
        b = b.lstrip(b"\0") or b"\0"
        if b[0] & 0x80: b = b"\0" + b
        return b"\x02" + bytes([len(b)]) + b
    body = der_int(sig[:48]) + der_int(sig[48:])
    open("sig.der", "wb").write(b"\x30" + bytes([len(body)]) + body)
    open("signed.txt", "wb").write((h + "." + p).encode())
PY
}
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out p256.key 2>/dev/null
verify eat-p256 1 --evidence good.json --ocsp-dir ocsp --eat x.json --signing-key p256.key
grep -q 'P-384' eat-p256.err || fail "P-256 signing key reason"
verify eat-no-dir 1 --evidence good.json --ocsp-dir ocsp --eat nonexistent/eat.json
verify key-without-eat 2 --evidence good.json --ocsp-dir ocsp --signing-key eat.key
check_eat eat-none.json none
check_eat eat-es384.json ES384
openssl dgst -sha384 -verify eat.pub -signature sig.der signed.txt >/dev/null || fail "ES384 EAT signature"

# --- the same evidence as --report (hex text) + --cert-chain ---------------------------------
report good.hex --hex
verify parts 0 --report good.hex --cert-chain dev/chain.pem --ocsp-dir ocsp

# --- single defects ---------------------------------------------------------------------------
defect() { # NAME EXPECTED-CLAIMS [verify options...]
	local name=$1 want=$2
	shift 2
	verify "$name" 3 "$@"
	python3 check.py "$POLICY" base.out "$name.out" "$want" || fail "$name"
	grep -q 'rejected' "$name.err" || fail "$name: no reason on stderr"
	[ "$(wc -l < "$name.err")" = 1 ] || fail "$name: more than one stderr line"
}
C_NONCE=x-nvidia-gpu-attestation-report-nonce-match
C_SIG=x-nvidia-gpu-attestation-report-signature-verified
C_CHAIN=x-nvidia-gpu-attestation-report-cert-chain
C_FWID=x-nvidia-gpu-attestation-report-cert-chain-fwid-match
C_DRV=x-nvidia-gpu-driver-rim
C_VB=x-nvidia-gpu-vbios-rim

"$CN_MKREPORT" --key dev/leaf.key --nonce $N2 --out nonce.bin --fwid "$FWID" "${measures[@]}"
evidence ev-nonce.json nonce.bin dev/chain.pem
sed -i "s/$N/$N2/" ev-nonce.json # the entry nonce is consistent; only the signed one matters here
defect nonce $C_NONCE --evidence ev-nonce.json --ocsp-dir ocsp

"$CN_MKREPORT" --key dev/leaf2.key --nonce $N --out sig.bin --fwid "$FWID" "${measures[@]}"
evidence ev-sig.json sig.bin dev/chain.pem
defect signature $C_SIG --evidence ev-sig.json --ocsp-dir ocsp

report fwid.bin --fwid "$(printf 'ee%094d' 3)"
evidence ev-fwid.json fwid.bin dev/chain.pem
defect fwid $C_FWID --evidence ev-fwid.json --ocsp-dir ocsp

evidence ev-chain4.json good.bin dev/chain4.pem
defect chain4 $C_CHAIN --evidence ev-chain4.json --ocsp-dir ocsp
grep -q '4 certificates, expected 5' chain4.out || fail "chain4 reason"

verify wrong-root 3 --evidence good.json --ocsp-dir ocsp --device-root dev/other-root.crt
python3 check.py "$POLICY" base.out wrong-root.out $C_CHAIN

# measurement mismatch at VBIOS RIM index 9 (SPDM block 10)
report meas.bin --measure "10=$(hash other)"
evidence ev-meas.json meas.bin dev/chain.pem
defect measurement measres --evidence ev-meas.json --ocsp-dir ocsp
python3 - measurement.out "$(hash 9)" "$(hash other)" <<'PY'
import json, sys
g = json.load(open(sys.argv[1]))["gpus"][0]
f = [x for x in g["failures"] if x["check"] == "measres"]
assert len(f) == 1, f
e = f[0]["evidence"]
assert e["index"] == 9 and e["spdm_index"] == 10 and e["source"] == "Firmware", e
assert e["golden"] == [sys.argv[2]] and e["runtime"] == sys.argv[3], e
r = g["claims"]["x-nvidia-mismatch-measurement-records"]
assert r == [{"index": 9, "goldenSize": 48, "goldenValue": sys.argv[2], "runtimeSize": 48,
              "runtimeValue": sys.argv[3], "measurementSource": "Firmware"}], r
assert "secboot" not in g["claims"]
PY

# RIM defects: a copy of the RIM directory with one file replaced
rimvariant() { # NAME FILE-IN-rims SOURCE-XML [SIGN-PKI]
	rm -rf "rims-$1"
	cp -r rims "rims-$1"
	sh "$RIMSH" sign "${4:-rim}" "$3" "rims-$1/$2"
}
DRVF=NV_GPU_DRIVER_GH100_550.90.07.xml
VBF=NV_GPU_VBIOS_1010_0200_882_96009F0001.xml
sed 's/colloquialVersion="550.90.07"/colloquialVersion="550.90.08"/' drv.xml > drv-ver.xml
rimvariant version $DRVF drv-ver.xml
defect rim-version $C_DRV-version-match --evidence good.json --ocsp-dir ocsp --rim-dir rims-version

rimvariant sig $VBF vb.xml
sed -i 's/name="cocoon test"/name="cocoon tEst"/' rims-sig/$VBF
defect rim-signature $C_VB-signature-verified --evidence good.json --ocsp-dir ocsp --rim-dir rims-sig

rimvariant anchor $VBF vb.xml rim2
defect rim-anchor $C_VB-cert-chain --evidence good.json --ocsp-dir ocsp --rim-dir rims-anchor

sh "$RIMSH" template GH100 96.00.9F.00.01 "${vb_specs[@]}" "7=$(hash 7)" > vb-conflict.xml
rimvariant conflict $VBF vb-conflict.xml
defect rim-conflict x-nvidia-gpu-vbios-index-no-conflict,measres --evidence good.json --ocsp-dir ocsp \
	--rim-dir rims-conflict

rm -rf rims-missing && cp -r rims rims-missing && rm rims-missing/$DRVF
defect rim-missing $C_DRV-fetched,$C_DRV-schema-validated,$C_DRV-cert-chain,$C_DRV-signature-verified,$C_DRV-version-match,$C_DRV-measurements-available,x-nvidia-gpu-vbios-index-no-conflict,measres \
	--evidence good.json --ocsp-dir ocsp --rim-dir rims-missing

# a RIM that exists but cannot be read is an input error (exit 1), never a rejection (exit 3)
rm -rf rims-dir && cp -r rims rims-dir && rm rims-dir/$DRVF && mkdir rims-dir/$DRVF
verify rim-unreadable 1 --evidence good.json --ocsp-dir ocsp --rim-dir rims-dir
grep -q "$DRVF" rim-unreadable.err || fail "rim-unreadable: the error does not name the RIM"
[ ! -s rim-unreadable.out ] || fail "rim-unreadable: a verdict was printed"
rm -rf rims-big && cp -r rims rims-big && truncate -s 2M rims-big/$DRVF
verify rim-oversized 1 --evidence good.json --ocsp-dir ocsp --rim-dir rims-big
grep -q 'exceeds' rim-oversized.err || fail "rim-oversized reason"

# OCSP defects
sed "s/^V\(\t[^\t]*\t\)\t\($(serial dev/ica.crt)\)/R\1$(date -u +%y%m%d%H%M%SZ),keyCompromise\t\2/" index.txt > index-revoked.txt
ocsp_set ocsp-revoked index-revoked.txt
defect ocsp-revoked $C_CHAIN --evidence good.json --ocsp-dir ocsp-revoked
python3 -c "
import json; c = json.load(open('ocsp-revoked.out'))['gpus'][0]['claims']['$C_CHAIN']
assert c['x-nvidia-cert-status'] == 'invalid' and c['x-nvidia-cert-ocsp-status'] == 'revoked', c
assert c['x-nvidia-cert-revocation-reason'] == 'keyCompromise', c"
grep -q 'OCSP status revoked, reason keyCompromise' ocsp-revoked.err || fail "ocsp-revoked reason"

# a revoked answer that also fails to echo the nonce: the revocation is named first (stderr and
# the failure), not the nonce
cp -r ocsp-revoked ocsp-revoked-nonce
respond ocsp-revoked-nonce index-revoked.txt req2 device-1 dev/ica
defect ocsp-revoked-nonce $C_CHAIN --evidence good.json --ocsp-dir ocsp-revoked-nonce
grep -q 'OCSP status revoked, reason keyCompromise' ocsp-revoked-nonce.err || fail "revoked not named first"
python3 -c "
import json; g = json.load(open('ocsp-revoked-nonce.out'))['gpus'][0]
f = [x for x in g['failures'] if x['check'] == '$C_CHAIN'][0]
assert 'revoked' in f['reason'] and f['evidence']['x-nvidia-cert-ocsp-status'] == 'revoked', f
assert g['claims']['$C_CHAIN']['x-nvidia-cert-ocsp-nonce-matches'] is False"

# a revoked response next to a good one for the same certificate: the revocation wins
cp -r ocsp ocsp-both && cp ocsp-revoked/device-2.der ocsp-both/zz-device-2-revoked.der
defect ocsp-both $C_CHAIN --evidence good.json --ocsp-dir ocsp-both

sed "s/^V\(\t[^\t]*\t\)\t\($(serial rim/signer.crt)\)/R\1$(date -u +%y%m%d%H%M%SZ),certificateHold\t\2/" index.txt > index-hold.txt
ocsp_set ocsp-hold index-hold.txt
defect ocsp-hold $C_DRV-cert-chain,$C_VB-cert-chain --evidence good.json --ocsp-dir ocsp-hold
python3 -c "
import json; c = json.load(open('ocsp-hold.out'))['gpus'][0]['claims']['$C_DRV-cert-chain']
assert c['x-nvidia-cert-ocsp-status'] == 'revoked' and c['x-nvidia-cert-revocation-reason'] == 'certificateHold', c"

grep -v "$(serial dev/identity.crt)" index.txt > index-unknown.txt
ocsp_set ocsp-unknown index-unknown.txt
defect ocsp-unknown $C_CHAIN --evidence good.json --ocsp-dir ocsp-unknown
python3 -c "
import json; c = json.load(open('ocsp-unknown.out'))['gpus'][0]['claims']['$C_CHAIN']
assert c['x-nvidia-cert-ocsp-status'] == 'unknown' and c['x-nvidia-cert-status'] == 'invalid', c"
grep -q 'OCSP status unknown' ocsp-unknown.err || fail "ocsp-unknown reason"

# A stored answer (--ocsp-dir) made for another run's nonce counts inside its validity window:
# nonce-matches false, which the reference policy does not require (docs/attest-online.md).
mkdir ocsp-nonce
for f in device-1 device-2 device-3; do respond ocsp-nonce index.txt req2 $f dev/$(
	case $f in device-1) echo ica ;; device-2) echo identity ;; *) echo root ;; esac); done
cp ocsp/rim-*.der ocsp-nonce/
verify ocsp-nonce 0 --evidence good.json --ocsp-dir ocsp-nonce --policy "$POLICY"
python3 -c "
import json; c = json.load(open('ocsp-nonce.out'))['gpus'][0]['claims']['$C_CHAIN']
assert c['x-nvidia-cert-ocsp-nonce-matches'] is False and c['x-nvidia-cert-ocsp-response-valid'] is True, c"

cp -r ocsp ocsp-wrong-responder
respond ocsp-wrong-responder index.txt req device-1 dev/ica dev/identity
defect ocsp-wrong-responder $C_CHAIN --evidence good.json --ocsp-dir ocsp-wrong-responder
grep -q 'responder' ocsp-wrong-responder.out || fail "wrong responder reason"

# A response signed by the issuer itself (its chain is the validated device chain, so only the
# signature is left to check) with a broken signature; then one signed by an impostor whose
# certificate, shipped in the response, carries the issuer's name.
cp -r ocsp ocsp-bad-sig
python3 - ocsp-bad-sig/device-1.der <<'PY'
import sys
d = bytearray(open(sys.argv[1], "rb").read())
def tlv(p):
    l, h = d[p + 1], 2
    if l & 0x80:
        n = l & 0x7F
        l, h = int.from_bytes(d[p + 2:p + 2 + n], "big"), 2 + n
    return h, l
def kids(p):
    h, l = tlv(p)
    q, out = p + h, []
    while q < p + h + l:
        out.append(q)
        q += sum(tlv(q))
    return out
octets = kids(kids(kids(0)[1])[0])[1]  # OCSPResponse.responseBytes.response
sig = kids(octets + tlv(octets)[0])[2]  # BasicOCSPResponse.signature
d[sig + sum(tlv(sig)) - 1] ^= 1
open(sys.argv[1], "wb").write(d)
PY
cmp -s ocsp/device-1.der ocsp-bad-sig/device-1.der && fail "ocsp-bad-sig: nothing flipped"
defect ocsp-bad-sig $C_CHAIN --evidence good.json --ocsp-dir ocsp-bad-sig
grep -q 'signature' ocsp-bad-sig.out || fail "bad OCSP signature reason"

openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -days 30 \
	-keyout impostor.key -out impostor.crt \
	-subj "$(openssl x509 -in dev/ica.crt -noout -subject -nameopt compat | sed 's/^subject=//')" \
	2>/dev/null || fail "impostor certificate"
cp -r ocsp ocsp-impostor
respond ocsp-impostor index.txt req device-1 dev/ica impostor
defect ocsp-impostor $C_CHAIN --evidence good.json --ocsp-dir ocsp-impostor
grep -q 'responder' ocsp-impostor.out || fail "impostor responder reason"

cp -r ocsp ocsp-stale
respond ocsp-stale index.txt req device-2 dev/identity dev/identity 1
LATER=$(date -u -d '+2 days' +%Y-%m-%dT%H:%M:%SZ)
verify stale-base 0 --evidence good.json --ocsp-dir ocsp --time "$LATER"
verify ocsp-stale 3 --evidence good.json --ocsp-dir ocsp-stale --time "$LATER"
python3 check.py "$POLICY" stale-base.out ocsp-stale.out $C_CHAIN
grep -q 'stale' ocsp-stale.out || fail "stale reason"

cp -r ocsp ocsp-missing && rm ocsp-missing/device-3.der
defect ocsp-missing $C_CHAIN --evidence good.json --ocsp-dir ocsp-missing
python3 -c "
import json; c = json.load(open('ocsp-missing.out'))['gpus'][0]['claims']['$C_CHAIN']
assert c['x-nvidia-cert-status'] == 'invalid' and c['x-nvidia-cert-ocsp-response-valid'] is False, c"

defect ocsp-off $C_CHAIN,$C_DRV-cert-chain,$C_VB-cert-chain --evidence good.json --ocsp off

# --- two GPUs (distinct leaves): accepted together; mixed modes (FEATURE_FLAG) rejected --------
cat dev/leaf2.crt dev/brom.crt dev/ica.crt dev/identity.crt dev/root.crt > chain2.pem
report ff0.bin --opaque 34=0100 --opaque 36=00
"$CN_MKREPORT" --key dev/leaf2.key --nonce $N --out ff0b.bin --fwid "$FWID" "${measures[@]}" --opaque 34=0100 --opaque 36=00
"$CN_MKREPORT" --key dev/leaf2.key --nonce $N --out ff1b.bin --fwid "$FWID" "${measures[@]}" --opaque 34=0100 --opaque 36=01
two() { # OUT REPORT-A REPORT-B
	printf '[{"arch":"HOPPER","nonce":"%s","evidence":"%s","certificate":"%s"},{"arch":"HOPPER","nonce":"%s","evidence":"%s","certificate":"%s"}]\n' \
		$N "$(base64 -w0 "$2")" "$(base64 -w0 dev/chain.pem)" $N "$(base64 -w0 "$3")" "$(base64 -w0 chain2.pem)" > "$1"
}
two ev-two.json ff0.bin ff0b.bin
two ev-mixed.json ff0.bin ff1b.bin
verify two-gpus 0 --evidence ev-two.json --ocsp-dir ocsp --eat eat-two.json
python3 -c "
import json; d = json.load(open('two-gpus.out')); e = json.load(open('eat-two.json'))
assert [g['id'] for g in d['gpus']] == ['GPU-0', 'GPU-1'] and list(e[1]) == ['GPU-0', 'GPU-1']
assert d['gpus'][0]['claims']['ueid'] != d['gpus'][1]['claims']['ueid']
assert d['gpus'][1]['report']['feature_flag'] == 0"
verify mixed-modes 3 --evidence ev-mixed.json --ocsp-dir ocsp
python3 -c "
import json; d = json.load(open('mixed-modes.out'))
assert d['x-nvidia-overall-att-result'] is False and d['evidence-integrity'] is True
assert [f['check'] for f in d['gpus'][1]['failures']] == ['feature_flag'], d['gpus'][1]['failures']"

# --- policy, exit codes -------------------------------------------------------------------------
printf '{"version":"4.0","authorization-rules":{"type":"JWT","overall-claims":{},"detached-claims":{"x-nvidia-gpu-driver-version":"1.0"}}}' > strict.json
verify policy-strict 3 --evidence good.json --ocsp-dir ocsp --policy strict.json
grep -q "claim 'x-nvidia-gpu-driver-version'" policy-strict.err || fail "policy reason"
# no policy can accept evidence whose integrity failed
printf '{"authorization-rules":{"type":"JWT","overall-claims":{},"detached-claims":{}}}' > lax.json
verify policy-lax 0 --evidence good.json --ocsp off --policy lax.json
verify policy-lax-sig 3 --evidence ev-sig.json --ocsp off --policy lax.json
printf '{"authorization-rules":{"type":"JWS","overall-claims":{},"detached-claims":{}}}' > bad.json
verify policy-bad 1 --evidence good.json --ocsp off --policy bad.json
verify no-nonce 2 --evidence good.json --ocsp off --nonce ''
rc=0; "$COCOON" attest verify --evidence good.json --ocsp off >/dev/null 2>&1 || rc=$?
[ $rc = 2 ] || fail "missing --nonce: exit $rc"
# impossible dates are usage errors, not another day (issue 10 #10)
verify bad-date 2 --evidence good.json --ocsp off --time 2024-02-31
verify bad-date2 2 --evidence good.json --ocsp off --time 2023-02-29T00:00:00Z
verify bad-time 2 --evidence good.json --ocsp off --time 2024-01-01T24:00:00Z
verify leap-day 3 --evidence good.json --ocsp off --time 2024-02-29T12:00:00Z
# the evidence wrapper refuses unknown members as the entries do (issue 10 #11)
printf '{"evidences":%s,"junk":1}' "$(cat good.json)" > junk.json
verify junk-member 1 --evidence junk.json --ocsp off
grep -q "unknown top-level member 'junk'" junk-member.err || fail "junk member reason"
printf '{"result_code":0,"result_message":"Ok","evidences":%s}' "$(cat good.json)" > wrapped.json
verify wrapped 0 --evidence wrapped.json --ocsp-dir ocsp
echo '[{"arch":"HOPPER"}]' > broken.json
verify broken-evidence 1 --evidence broken.json --ocsp off
verify missing-file 1 --evidence nonexistent.json --ocsp off
truncate -s 100 trunc.bin; head -c 1000 good.bin > trunc.bin
evidence ev-trunc.json trunc.bin dev/chain.pem
verify truncated 3 --evidence ev-trunc.json --ocsp-dir ocsp
report nvdaod.bin --nvdaod
evidence ev-nvdaod.json nvdaod.bin dev/chain.pem
verify nvdaod 3 --evidence ev-nvdaod.json --ocsp-dir ocsp
grep -q NVDAOD nvdaod.err || fail "NVDAOD reason"
"$(dirname "$COCOON")/gpu-attest" verify --evidence good.json --nonce $N --device-root dev/root.crt \
	--rim-root rim/root.crt --rim-dir rims --ocsp-dir ocsp >/dev/null || fail "gpu-attest alias"
# A FIFO as an input never blocks: exit 1 "not a regular file" (issue 10 item 5). timeout turns a
# regression into a failure instead of a hang.
fifo_case() { # NAME WANT-RC [options...]
	local name=$1 want=$2 rc=0
	shift 2
	timeout 20 "$COCOON" attest verify --nonce $N --device-root dev/root.crt --rim-root rim/root.crt \
		"$@" > "$name.out" 2> "$name.err" || rc=$?
	[ "$rc" != 124 ] || fail "$name: hung on a FIFO"
	[[ "$rc" =~ ^($want)$ ]] || { cat "$name.err" >&2; fail "$name: exit $rc, expected $want"; }
	grep -q "not a regular file" "$name.err" || fail "$name: $(cat "$name.err")"
}
mkfifo fifo
fifo_case fifo-policy 1 --evidence good.json --rim-dir rims --ocsp-dir ocsp --policy fifo
mkdir ocsp-fifo; cp ocsp/* ocsp-fifo/; mkfifo ocsp-fifo/zz.der
fifo_case fifo-ocsp-dir 1 --evidence good.json --rim-dir rims --ocsp-dir ocsp-fifo
mkdir rims-fifo; cp rims/NV_GPU_VBIOS_* rims-fifo/; mkfifo rims-fifo/NV_GPU_DRIVER_GH100_550.90.07.xml
# An unreadable RIM or RIM root is an input error (1), not a rejection (issue 10 item 6).
fifo_case fifo-rim-dir 1 --evidence good.json --rim-dir rims-fifo --ocsp-dir ocsp
fifo_case fifo-rim-root 1 --evidence good.json --rim-dir rims --ocsp-dir ocsp --rim-root fifo
echo "attest e2e: OK"
