#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Everything `cocoon attest run` needs to accept the fake libnvidia-ml.so.1's GPUs, made with
# the real tools (shared by tests/attest/test-gate.sh and bench/attest-run):
#   DIR/dev/      device PKI (make-test-pki.sh): CN_FAKE_NVML_PKI=DIR/dev, --device-root dev/root.crt
#   DIR/rim/      RIM PKI (make-test-rim.sh): --rim-root rim/root.crt
#   DIR/rims/     the driver and VBIOS RIMs matching the fake's golden measurements, signed
#                 with xmlsec1: --rim-dir
#   DIR/worker.{key,pub}  a P-256 "worker TLS key": --nonce-from-key
#   DIR/nonce     the nonce that key implies, computed with openssl + sha256sum (an oracle)
#   DIR/ocsp/     `openssl ocsp` answers for the device chain and RIM chain, echoing that
#                 nonce: --ocsp-dir
#   make-fixture.sh DIR   (needs $COCOON for `attest ocsp-request`, openssl, xmlsec1)
set -euo pipefail
: "${COCOON:?}"
here=$(cd "$(dirname "$0")" && pwd)
RIMSH=$here/../rim/make-test-rim.sh
mkdir -p "$1"
cd "$1"
fail() { echo "make-fixture.sh: $*" >&2; exit 1; }

sh "$here/../make-test-pki.sh" dev
sh "$RIMSH" pki rim
hash() { printf 'measurement %s' "$1" | openssl dgst -sha384 -r | cut -c1-96; }
drv=() vb=()
for i in 7 $(seq 21 40); do drv+=("$i=$(hash "$i")"); done
for i in 0 1 2 3 4 5 6 8 9 10 11 12; do vb+=("$i=$(hash "$i")"); done
mkdir -p rims
sh "$RIMSH" template GH100 550.90.07 "${drv[@]}" > drv.xml
sh "$RIMSH" template GH100 96.00.9F.00.01 "${vb[@]}" > vb.xml
sh "$RIMSH" sign rim drv.xml rims/NV_GPU_DRIVER_GH100_550.90.07.xml
sh "$RIMSH" sign rim vb.xml rims/NV_GPU_VBIOS_1010_0200_882_96009F0001.xml

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out worker.key 2>/dev/null
openssl pkey -in worker.key -pubout -out worker.pub
(printf 'cocoon-gpu-attest-v1\0'; openssl pkey -pubin -in worker.pub -outform DER) |
	sha256sum | cut -c1-64 > nonce
N=$(cat nonce)

"$COCOON" attest ocsp-request --cert-chain dev/chain.pem --nonce "$N" --out-dir req >/dev/null
"$COCOON" attest ocsp-request --rim rims/NV_GPU_DRIVER_GH100_550.90.07.xml --nonce "$N" \
	--out-dir req >/dev/null
for c in dev/*.crt rim/*.crt; do
	printf 'V\t491231235959Z\t\t%s\tunknown\t/CN=%s\n' \
		"$(openssl x509 -in "$c" -noout -serial | cut -d= -f2)" "$c"
done > index.txt
mkdir -p ocsp
respond() { # NAME ISSUER
	openssl ocsp -reqin "req/$1.req" -index index.txt -CA "$2.crt" -rsigner "$2.crt" \
		-rkey "$2.key" -respout "ocsp/$1.der" -ndays 5 >/dev/null 2>&1 || fail "openssl ocsp $1"
}
respond device-1 dev/ica
respond device-2 dev/identity
respond device-3 dev/root
respond rim-0 rim/ca
respond rim-1 rim/root
