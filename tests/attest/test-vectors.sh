#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# NVIDIA's vectors (spec §6), read from $CN_SHARED_DIR at test time (skipped when absent):
# every report/chain pair and serialized evidence file, the negative vectors, the complete
# offline pass (go-nvtrust mock report + the two *_test_no_gpu RIMs at 2024-01-01) and the
# end-to-end decisions for NVIDIA's negative RIMs.
set -euo pipefail
: "${COCOON:?}" "${CN_SHARED_DIR:?}"
D=$CN_SHARED_DIR/nvidia-testdata
[ -d "$D" ] || { echo "SKIP: $D missing"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

NV=$D/nvtrust/local_gpu_verifier/samples
GO=$D/go-nvtrust/mocks
SDK=$D/attestation-sdk/unit-tests/testdata
GPU=$SDK/sample_attestation_data/gpu
SER=$D/attestation-sdk/common-test-data/serialized_test_evidence
N_NV=931d8dd0add203ac3d8b4fbde75e115278eefcdceac5b87671a748f32364dfcb
N_GO=4cff7f5380ead8fad8ec2c531c110aca4302a88f603792801a8ca29ee151af2e
N_SDK=5bb22e377702d4e1e8215a903ba094826b9ac7f731dee1fe8102958bf2840aca
N_GPU=27a328247bf7935c993341cf587be6f05986ccce4fe7ba2c54100bd616a58f66
N_590=e97b23a1718095a0e9e35edca810768c70a6a5a389b705e753b197912bc11576

run() { # NAME EXPECTED-RC options...
	local name=$1 want=$2 rc=0
	shift 2
	"$COCOON" attest verify "$@" > "$T/$name.json" 2> "$T/$name.err" || rc=$?
	[ "$rc" = "$want" ] || { cat "$T/$name.err" >&2; fail "$name: exit $rc, expected $want"; }
}
# claims NAME 'python expression over c (claims of GPU 0), d (document)'
claims() {
	python3 -c "
import json, sys
d = json.load(open('$T/$1.json')); c = d['gpus'][0]['claims']; g = d['gpus'][0]
CH = c['x-nvidia-gpu-attestation-report-cert-chain']
assert $2, (sys.argv, {k: v for k, v in c.items() if 'rim' not in k}, g['failures'])
" "$1" || fail "$1: $2"
}
OK='c["x-nvidia-gpu-attestation-report-parsed"] and c["x-nvidia-gpu-attestation-report-nonce-match"] and c["x-nvidia-gpu-attestation-report-signature-verified"] and CH["x-nvidia-cert-status"] == "valid" and c["x-nvidia-gpu-attestation-report-cert-chain-fwid-match"] and d["evidence-integrity"]'

# --- every report/chain pair: integrity holds (RIMs/OCSP absent -> rejected, exit 3) --------
run nv 3 --report $NV/hopperAttestationReport.txt --cert-chain $NV/hopperCertChain.txt --nonce $N_NV --ocsp off
claims nv "$OK and c['x-nvidia-gpu-driver-version'] == '550.90.07' and c['x-nvidia-gpu-vbios-version'] == '96.00.9F.00.01' and c['hwmodel'] == 'GH100 A01 GSP BROM' and c['ueid'] == '478176379286082186618948445787393647364802107249' and CH['x-nvidia-cert-expiration-date'] == '9999-12-31T23:59:59Z'"
# NRAS's verdict on exactly this evidence: every claim about the report and the device chain agrees,
# and our claim set has every claim NRAS emits.
NRAS=$SDK/sample_attestation_data/hopperClaimsv3_decoded.json
python3 - "$NRAS" "$T/nv.json" <<'PY' || fail "claims differ from NRAS's"
import json, sys
n = json.load(open(sys.argv[1]))["GPU-0"]
c = json.load(open(sys.argv[2]))["gpus"][0]["claims"]
missing = set(n) - set(c) - {"secboot", "dbgstat"}  # only with measres success (no RIMs here)
assert not missing, missing
for k in ("eat_nonce", "ueid", "hwmodel", "x-nvidia-gpu-driver-version", "x-nvidia-gpu-vbios-version",
          "x-nvidia-gpu-arch-check", "x-nvidia-gpu-attestation-report-parsed",
          "x-nvidia-gpu-attestation-report-nonce-match", "x-nvidia-gpu-attestation-report-signature-verified",
          "x-nvidia-gpu-attestation-report-cert-chain-fwid-match", "x-nvidia-attestation-warning"):
    assert c[k] == n[k], (k, c[k], n[k])
for k in ("x-nvidia-cert-status", "x-nvidia-cert-expiration-date", "x-nvidia-cert-revocation-reason"):
    assert c["x-nvidia-gpu-attestation-report-cert-chain"][k] == n["x-nvidia-gpu-attestation-report-cert-chain"][k], k
PY
run go 3 --report $GO/attestationReport.txt --cert-chain $GO/gpuAkCertChain.txt --nonce $N_GO --ocsp off
claims go "$OK and c['x-nvidia-gpu-driver-version'] == '545.00' and c['x-nvidia-gpu-vbios-version'] == '96.00.5E.00.01'"
run sdk 3 --report $SDK/hopperAttestationReport.txt --cert-chain $SDK/hopperCertChain.txt --nonce $N_SDK --ocsp off
claims sdk "$OK and c['x-nvidia-gpu-driver-version'] == '580.159.03' and c['x-nvidia-gpu-vbios-version'] == '96.00.74.00.20'"
run gpu 3 --report $GPU/hopperAttestationReport.txt --cert-chain $GPU/hopperCertChain.txt --nonce $N_GPU --ocsp off
claims gpu "$OK and c['x-nvidia-gpu-driver-version'] == '535.86.09'"
run expired 3 --report $GPU/hopperAttestationReportExpired.txt --cert-chain $GPU/hopperCertChainExpired.txt --nonce $N_NV --ocsp off
claims expired "$OK and c['x-nvidia-gpu-driver-version'] == '570.124.03' and c['x-nvidia-gpu-vbios-version'] == '96.00.5E.00.04'"
# the derived binary report is accepted as well as hex text
run nv-bin 3 --report $D/derived/nvtrust-hopper-sample/report.bin --cert-chain $NV/hopperCertChain.txt --nonce $N_NV --ocsp off
claims nv-bin "$OK"

# serialized evidence files
for f in $SER/hopper_evidence.json $SDK/evidence_hopper_590_12.json; do
	run ev 3 --evidence "$f" --nonce $N_590 --ocsp off
	claims ev "$OK and c['x-nvidia-gpu-driver-version'] == '590.12' and len(d['gpus']) == 1"
done
run multi 3 --evidence $SER/multi_gpu_hopper.json --nonce $N_590 --ocsp off
claims multi "len(d['gpus']) == 4 and d['evidence-integrity'] and all(x['claims']['x-nvidia-gpu-attestation-report-signature-verified'] for x in d['gpus']) and [x['id'] for x in d['gpus']] == ['GPU-0', 'GPU-1', 'GPU-2', 'GPU-3']"
python3 -c "import json; e = json.load(open('$SER/hopper_evidence.json')); json.dump(e * 2, open('$T/dup.json', 'w'))"
run duplicate 3 --evidence "$T/dup.json" --nonce $N_590 --ocsp off
claims duplicate "not d['evidence-integrity'] and any(f['check'] == 'ueid' for f in d['gpus'][1]['failures']) and d['gpus'][0]['claims']['ueid'] == d['gpus'][1]['claims']['ueid']"
run hold 3 --evidence $SER/hopper_evidence_cert_hold.json --nonce $N_NV --ocsp off
claims hold "$OK and c['x-nvidia-gpu-driver-version'] == '570.86.10'"

# --- negative vectors -----------------------------------------------------------------------
run invalid-sig 3 --report $GPU/hopperAttestationReportInvalidSignature.txt --cert-chain $GPU/hopperCertChainExpired.txt --nonce $N_NV --ocsp off
claims invalid-sig "c['x-nvidia-gpu-attestation-report-parsed'] and c['x-nvidia-gpu-attestation-report-signature-verified'] is False and c['x-nvidia-gpu-attestation-report-cert-chain-fwid-match'] is False and not d['evidence-integrity']"
run chain4 3 --report $GO/attestationReport.txt --cert-chain $GO/invalidCertChain.txt --nonce $N_GO --ocsp off
claims chain4 "CH['x-nvidia-cert-status'] == 'invalid' and not d['evidence-integrity']"
run wrong-nonce 3 --report $GO/attestationReport.txt --cert-chain $GO/gpuAkCertChain.txt --nonce $N_NV --ocsp off
claims wrong-nonce "c['x-nvidia-gpu-attestation-report-nonce-match'] is False and c['x-nvidia-gpu-attestation-report-signature-verified']"
run ev-wrong-nonce 3 --evidence $SER/hopper_evidence.json --nonce $N_NV --ocsp off
claims ev-wrong-nonce "c['x-nvidia-gpu-attestation-report-nonce-match'] is False"
# NVIDIA's root delivered with the evidence must match the pin: another root is refused
run other-anchor 3 --report $NV/hopperAttestationReport.txt --cert-chain $NV/hopperCertChain.txt --nonce $N_NV --ocsp off --device-root $D/derived/nvtrust-hopper-sample/leaf.pem
claims other-anchor "CH['x-nvidia-cert-status'] == 'invalid'"

# --- the complete offline pass ------------------------------------------------------------------
mkdir "$T/rims"
cp $NV/Driver_RIM_test_no_gpu.swidtag $NV/1010_0200_882_96005E0001_test_no_gpu.swidtag "$T/rims/"
run offline 3 --report $GO/attestationReport.txt --cert-chain $GO/gpuAkCertChain.txt --nonce $N_GO --ocsp off --rim-dir "$T/rims" --time 2024-01-01T00:00:00Z
claims offline "$OK and c['measres'] == 'success' and c['secboot'] is True and c['x-nvidia-gpu-vbios-index-no-conflict'] and all(c[f'x-nvidia-gpu-{k}-rim-{s}'] for k in ('driver', 'vbios') for s in ('fetched', 'schema-validated', 'signature-verified', 'version-match', 'measurements-available')) and c['x-nvidia-gpu-driver-rim-cert-chain']['x-nvidia-cert-status'] == 'valid' and c['x-nvidia-gpu-vbios-rim-cert-chain']['x-nvidia-cert-status'] == 'valid' and g['measurements']['mismatched'] == 0 and g['measurements']['compared'] + g['measurements']['msr35_skipped'] == 33 and c['oemid'] == '5703'"
python3 -c "
import json; n = json.load(open('$NRAS'))['GPU-0']; c = json.load(open('$T/offline.json'))['gpus'][0]['claims']
assert set(n) <= set(c), set(n) - set(c)
assert all(type(c[k]) == type(n[k]) for k in n if n[k] is not None and c[k] is not None)" || fail "offline claim set"
# Independent oracle: all 33 active golden values of the two RIMs equal the report's blocks.
python3 - "$T/rims" $D/derived/go-nvtrust-mock/report.bin <<'PY'
import sys, os, xml.etree.ElementTree as ET
rep = open(sys.argv[2], "rb").read()
blocks = {rep[45 + 55 * k]: rep[45 + 55 * k + 7: 45 + 55 * k + 55].hex() for k in range(64)}
n = 0
for f in os.listdir(sys.argv[1]):
    for r in ET.parse(os.path.join(sys.argv[1], f)).getroot().iter("{http://standards.iso.org/iso/19770/-2/2015/schema.xsd}Resource"):
        if r.get("active") != "True":
            continue
        alts = [v for k, v in r.attrib.items() if "Hash" in k]
        assert blocks[int(r.get("index")) + 1] in alts, r.get("index")
        n += 1
assert n == 33, n
PY
# with a policy that does not ask for OCSP the same evidence is accepted (exit 0)
python3 -c "
import json
p = json.load(open('$CN_SHARED_DIR/reference/attest_policy.json')) if __import__('os').path.exists('$CN_SHARED_DIR/reference/attest_policy.json') else None
if p is None: raise SystemExit(0)
del p['authorization-rules']['overall-claims']['x-nvidia-overall-att-result']
for k, v in p['authorization-rules']['detached-claims'].items():
    if isinstance(v, dict): v.pop('x-nvidia-cert-ocsp-status')
json.dump(p, open('$T/no-ocsp.json', 'w'))"
if [ -f "$T/no-ocsp.json" ]; then
	run offline-accept 0 --report $GO/attestationReport.txt --cert-chain $GO/gpuAkCertChain.txt --nonce $N_GO --ocsp off --rim-dir "$T/rims" --time 2024-01-01T00:00:00Z --policy "$T/no-ocsp.json"
fi
# today the RIM signing chains have expired
run offline-today 3 --report $GO/attestationReport.txt --cert-chain $GO/gpuAkCertChain.txt --nonce $N_GO --ocsp off --rim-dir "$T/rims"
claims offline-today "c['x-nvidia-gpu-driver-rim-cert-chain']['x-nvidia-cert-status'] == 'expired' and c['x-nvidia-gpu-vbios-rim-cert-chain']['x-nvidia-cert-status'] == 'expired' and c['x-nvidia-gpu-driver-rim-signature-verified']"

# --- NVIDIA's negative RIMs, end to end -----------------------------------------------------
mkdir "$T/mm"
cp $SDK/sample_rims/NV_GPU_VBIOS_1010_0200_882_96005E0001_measurement_mismatch.xml "$T/mm/NV_GPU_VBIOS_1010_0200_882_96005E0001.xml"
cp $SDK/sample_rims/NV_GPU_DRIVER_GH100_535.86.09_measurement_mismatch.xml "$T/mm/NV_GPU_DRIVER_GH100_535.86.09.xml"
run rim-mismatch 3 --report $GPU/hopperAttestationReport.txt --cert-chain $GPU/hopperCertChain.txt --nonce $N_GPU --ocsp off --rim-dir "$T/mm" --time 2025-06-01T00:00:00Z
claims rim-mismatch "c['measres'] == 'fail' and c['x-nvidia-gpu-vbios-rim-signature-verified'] and c['x-nvidia-gpu-driver-rim-signature-verified'] is False and [m['index'] for m in c['x-nvidia-mismatch-measurement-records'] if m['measurementSource'] == 'Firmware'] == [9] and any(f['check'] == 'measres' and f['evidence']['index'] == 9 and f['evidence']['golden'] and f['evidence']['runtime'] for f in g['failures'])"

for neg in incorrect_signature_driver_rim incorrect_cert_chain_driver_rim; do
	rm -rf "$T/neg" && mkdir "$T/neg"
	cp $SDK/$neg.xml "$T/neg/NV_GPU_DRIVER_GH100_550.90.07.xml"
	run $neg 3 --report $NV/hopperAttestationReport.txt --cert-chain $NV/hopperCertChain.txt --nonce $N_NV --ocsp off --rim-dir "$T/neg"
done
claims incorrect_signature_driver_rim "c['x-nvidia-gpu-driver-rim-fetched'] and c['x-nvidia-gpu-driver-rim-signature-verified'] is False"
claims incorrect_cert_chain_driver_rim "c['x-nvidia-gpu-driver-rim-cert-chain']['x-nvidia-cert-status'] == 'invalid'"
echo "attest vectors: OK"
