# SPDX-License-Identifier: Apache-2.0
# Shared by tests/attest/live/test-live.sh and bench/attest-online: a test device PKI, a RIM PKI,
# signed RIMs, evidence of NGPU GPUs (distinct BROM certificates and leaves under one ICA), the
# OCSP index, and the loopback stand-ins (nvstub.py + `openssl ocsp`).
# Needs: COCOON CN_MKREPORT CN_SOURCE_DIR; run in an empty directory.

N=5eed000000000000000000000000000000000000000000000000000000000001
N2=5eed000000000000000000000000000000000000000000000000000000000002
LIVE_DIR=$CN_SOURCE_DIR/tests/attest/live
STUB_PIDS=()

fail() { echo "FAIL: $*" >&2; exit 1; }
serial() { openssl x509 -in "$1" -noout -serial | cut -d= -f2; }

# extra_gpu K: dev/bromK + dev/leafK (same FWID) and dev/chainK.pem
extra_gpu() {
	local k=$1 curve="-newkey ec -pkeyopt ec_paramgen_curve:secp384r1 -nodes"
	local ext="subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid"
	openssl req $curve -keyout dev/gbrom$k.key -out dev/gbrom$k.csr -subj "/O=cocoon-test/CN=GH100 A01 GSP BROM $k" 2>/dev/null
	printf '%s\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n' "$ext" > dev/gbrom$k.ext
	openssl x509 -req -in dev/gbrom$k.csr -CA dev/ica.crt -CAkey dev/ica.key -CAcreateserial -sha384 -days 30 \
		-extfile dev/gbrom$k.ext -out dev/gbrom$k.crt 2>/dev/null
	openssl req $curve -keyout dev/gleaf$k.key -out dev/gleaf$k.csr -subj "/O=cocoon-test/CN=GH100 A01 GSP FMC LF" 2>/dev/null
	printf '%s\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n2.23.133.5.4.1=DER:303D06096086480165030402020430%s\n' \
		"$ext" "$(cat dev/fwid.hex)" > dev/gleaf$k.ext
	openssl x509 -req -in dev/gleaf$k.csr -CA dev/gbrom$k.crt -CAkey dev/gbrom$k.key -CAcreateserial -sha384 -days 30 \
		-extfile dev/gleaf$k.ext -out dev/gleaf$k.crt 2>/dev/null
	cat dev/gleaf$k.crt dev/gbrom$k.crt dev/ica.crt dev/identity.crt dev/root.crt > dev/gchain$k.pem
}

# setup NGPU: everything but the services
live_setup() {
	local ngpu=${1:-1} hash drv=() vb=() measures=() entries=()
	sh "$CN_SOURCE_DIR/tests/attest/make-test-pki.sh" dev
	sh "$CN_SOURCE_DIR/tests/attest/rim/make-test-rim.sh" pki rim
	hash() { printf 'measurement %s' "$1" | openssl dgst -sha384 -r | cut -c1-96; }
	for i in 7 $(seq 21 40); do h=$(hash $i); drv+=("$i=$h"); measures+=(--measure "$((i + 1))=$h"); done
	for i in 0 1 2 3 4 5 6 8 9 10 11 12; do h=$(hash $i); vb+=("$i=$h"); measures+=(--measure "$((i + 1))=$h"); done
	mkdir -p rims
	sh "$CN_SOURCE_DIR/tests/attest/rim/make-test-rim.sh" template GH100 550.90.07 "${drv[@]}" > drv.xml
	sh "$CN_SOURCE_DIR/tests/attest/rim/make-test-rim.sh" template GH100 96.00.9F.00.01 "${vb[@]}" > vb.xml
	sh "$CN_SOURCE_DIR/tests/attest/rim/make-test-rim.sh" sign rim drv.xml rims/NV_GPU_DRIVER_GH100_550.90.07.xml
	sh "$CN_SOURCE_DIR/tests/attest/rim/make-test-rim.sh" sign rim vb.xml rims/NV_GPU_VBIOS_1010_0200_882_96009F0001.xml
	for nonce in $N $N2; do
		entries=()
		for k in $(seq 1 "$ngpu"); do
			local key=dev/leaf.key chain=dev/chain.pem
			if [ "$k" -gt 1 ]; then
				[ -f dev/gchain$k.pem ] || extra_gpu $k
				key=dev/gleaf$k.key chain=dev/gchain$k.pem
			fi
			"$CN_MKREPORT" --key $key --nonce $nonce --out r$k.bin --fwid "$(cat dev/fwid.hex)" "${measures[@]}"
			entries+=("$(printf '{"arch":"HOPPER","nonce":"%s","evidence":"%s","certificate":"%s"}' \
				$nonce "$(base64 -w0 r$k.bin)" "$(base64 -w0 $chain)")")
		done
		(IFS=,; echo "[${entries[*]}]") > ev-$nonce.json
	done
	cp ev-$N.json good.json
	cp ev-$N2.json good2.json
	for c in dev/*.crt rim/*.crt; do
		printf 'V\t491231235959Z\t\t%s\tunknown\t/CN=%s\n' "$(serial "$c")" "$c"
	done > index.txt
}

# stub_start NAME INDEX [NMIN] [DELAY_MS] [extra responder args...]: starts the stand-ins in NAME/
stub_start() {
	local name=$1 index=$2 nmin=${3:-60} delay=${4:-0}
	shift 4 || shift $#
	mkdir -p "$name"
	[ -f tls/ca.pem ] && cp tls/ca.pem tls/server.pem tls/server.key "$name/"
	python3 "$LIVE_DIR/nvstub.py" --dir "$name" --rim-dir rims --delay-ms "$delay" --lifetime 600 \
		--ocsp-signer "${OCSP_SIGNER:-openssl}" \
		--responder dev/ica.crt,dev/ica.crt,dev/ica.key,$index,$nmin \
		--responder dev/identity.crt,dev/identity.crt,dev/identity.key,$index,$nmin \
		--responder dev/root.crt,dev/root.crt,dev/root.key,$index,$nmin \
		--responder rim/ca.crt,rim/ca.crt,rim/ca.key,$index,$nmin \
		--responder rim/root.crt,rim/root.crt,rim/root.key,$index,$nmin \
		"$@" &
	STUB_PIDS+=($!)
	for _ in $(seq 100); do [ -f "$name/port" ] && break; sleep 0.1; done
	[ -f "$name/port" ] || fail "stub $name did not start"
	eval "PORT_$name=$(cat "$name/port")"
	if [ ! -f tls/ca.pem ]; then
		mkdir -p tls && cp "$name/ca.pem" "$name/server.pem" "$name/server.key" tls/
	fi
	export REQUESTS_CA_BUNDLE=$PWD/tls/ca.pem
}

stub_stop_all() {
	for p in "${STUB_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}

# A port nothing listens on.
dead_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
