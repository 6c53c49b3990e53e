# SPDX-License-Identifier: Apache-2.0
# Sourced by the attestation end-to-end tests (test-e2e.sh, test-alloc.sh): in a fresh temporary
# directory, a test device PKI and two RIM PKIs (openssl), driver and VBIOS RIMs signed with
# xmlsec1, a good report signed with the test leaf (mkreport) as NVIDIA JSON evidence, and the
# OCSP answers of `openssl ocsp` for every checked certificate (directory "ocsp").
# Needs COCOON, CN_MKREPORT, CN_SOURCE_DIR; exits 77 when a tool is missing.
for t in openssl xmlsec1 python3; do
	command -v $t >/dev/null || { echo "SKIP: $t missing"; exit 77; }
done
RIMSH=$CN_SOURCE_DIR/tests/attest/rim/make-test-rim.sh
[ -f "$RIMSH" ] || { echo "SKIP: $RIMSH missing"; exit 77; }
PKISH=$CN_SOURCE_DIR/tests/attest/make-test-pki.sh
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cd "$T"
fail() { echo "FAIL: $*" >&2; exit 1; }

N=5eed000000000000000000000000000000000000000000000000000000000001
N2=5eed000000000000000000000000000000000000000000000000000000000002

sh "$PKISH" dev
sh "$RIMSH" pki rim
sh "$RIMSH" pki rim2 # a second RIM PKI: wrong anchor
FWID=$(cat dev/fwid.hex)

# Golden values: driver RIM indices 7, 21..40; VBIOS RIM 0..6, 8..12 (as NVIDIA's RIMs).
hash() { printf 'measurement %s' "$1" | openssl dgst -sha384 -r | cut -c1-96; }
DRV_IDX="7 $(seq -s ' ' 21 40)"
VB_IDX="0 1 2 3 4 5 6 8 9 10 11 12"
drv_specs=() vb_specs=() measures=()
for i in $DRV_IDX; do h=$(hash $i); drv_specs+=("$i=$h"); measures+=(--measure "$((i + 1))=$h"); done
for i in $VB_IDX; do h=$(hash $i); vb_specs+=("$i=$h"); measures+=(--measure "$((i + 1))=$h"); done

mkdir rims
sh "$RIMSH" template GH100 550.90.07 "${drv_specs[@]}" > drv.xml
sh "$RIMSH" template GH100 96.00.9F.00.01 "${vb_specs[@]}" > vb.xml
sh "$RIMSH" sign rim drv.xml rims/NV_GPU_DRIVER_GH100_550.90.07.xml
sh "$RIMSH" sign rim vb.xml rims/NV_GPU_VBIOS_1010_0200_882_96009F0001.xml

report() { # OUT [mkreport options]
	local out=$1
	shift
	"$CN_MKREPORT" --key dev/leaf.key --nonce $N --out "$out" --fwid "$FWID" "${measures[@]}" "$@"
}
evidence() { # OUT REPORT CHAIN
	printf '[{"arch":"HOPPER","nonce":"%s","evidence":"%s","certificate":"%s"}]\n' $N \
		"$(base64 -w0 "$2")" "$(base64 -w0 "$3")" > "$1"
}
report good.bin
evidence good.json good.bin dev/chain.pem

# OCSP: requests for the device chain (certs 1..3) and the RIM chain (signer, CA).
cat rim/signer.crt rim/ca.crt rim/root.crt > rimchain.pem
"$COCOON" attest ocsp-request --cert-chain dev/chain.pem --nonce $N --out-dir req >/dev/null
"$COCOON" attest ocsp-request --rim rims/NV_GPU_DRIVER_GH100_550.90.07.xml --nonce $N --out-dir req >/dev/null
[ -f req/rim-0.req ] && [ -f req/rim-1.req ] && [ ! -f req/rim-2.req ] || fail "ocsp-request --rim"
"$COCOON" attest ocsp-request --cert-chain rimchain.pem --kind rim --nonce $N --out-dir req-chain >/dev/null
cmp req/rim-0.req req-chain/rim-0.req || fail "ocsp-request --rim and --cert-chain differ"
"$COCOON" attest ocsp-request --cert-chain dev/chain.pem --nonce $N2 --out-dir req2 >/dev/null
for c in dev/*.crt rim/*.crt; do
	printf 'V\t491231235959Z\t\t%s\tunknown\t/CN=%s\n' \
		"$(openssl x509 -in "$c" -noout -serial | cut -d= -f2)" "$c"
done > index.txt
serial() { openssl x509 -in "$1" -noout -serial | cut -d= -f2; }

# respond DIR INDEX REQ-PREFIX NAME ISSUER [SIGNER] [DAYS]
respond() {
	local s=${6:-$5}
	openssl ocsp -reqin "$3/$4.req" -index "$2" -CA "$5.crt" -rsigner "$s.crt" -rkey "$s.key" \
		-respout "$1/$4.der" -ndays "${7:-5}" >/dev/null 2>&1 || fail "openssl ocsp $4"
}
ocsp_set() { # DIR INDEX
	mkdir -p "$1"
	respond "$1" "$2" req device-1 dev/ica
	respond "$1" "$2" req device-2 dev/identity
	respond "$1" "$2" req device-3 dev/root
	respond "$1" "$2" req rim-0 rim/ca
	respond "$1" "$2" req rim-1 rim/root
}
ocsp_set ocsp index.txt
