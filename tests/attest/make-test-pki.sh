#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# Test device PKI made with `openssl`, shaped like NVIDIA's Hopper chain (spec §3.1):
#   root "Test Device Identity CA" -> "Test GH100 Identity" -> "Test GH100 Provisioner ICA 1"
#   -> "GH100 A01 GSP BROM" (CA) -> "GH100 A01 GSP FMC LF" (leaf, FWID extension 2.23.133.5.4.1)
# All P-384 / ecdsa-with-SHA384, valid $DAYS days (default 30) from now.
#
#   make-test-pki.sh DIR [FWID-HEX]
#     DIR/{root,identity,ica,brom,leaf}.{key,crt}, DIR/chain.pem (leaf..root, 5 certs),
#     DIR/chain4.pem (BROM missing), DIR/other-root.crt, DIR/leaf2.{key,crt} (a second leaf
#     with the same FWID, for wrong-key reports), DIR/fwid.hex
set -eu
dir=$1
fwid=${2:-$(printf 'f1%094d' 7)}
days=${DAYS:-30}
mkdir -p "$dir"
curve="-newkey ec -pkeyopt ec_paramgen_curve:secp384r1 -nodes"
ext="subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid"

openssl req -x509 $curve -keyout "$dir/root.key" -out "$dir/root.crt" -sha384 -days "$days" \
	-subj "/O=cocoon-test/CN=Test Device Identity CA" \
	-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -x509 $curve -keyout "$dir/other-root.key" -out "$dir/other-root.crt" -sha384 -days "$days" \
	-subj "/O=cocoon-test/CN=Test Device Identity CA" \
	-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

# issue NAME ISSUER CN EXTRA-EXT
issue() {
	openssl req $curve -keyout "$dir/$1.key" -out "$dir/$1.csr" -subj "/O=cocoon-test/CN=$3" 2>/dev/null
	printf '%s\n%s\n' "$ext" "$4" > "$dir/$1.ext"
	openssl x509 -req -in "$dir/$1.csr" -CA "$dir/$2.crt" -CAkey "$dir/$2.key" -CAcreateserial \
		-sha384 -days "$days" -extfile "$dir/$1.ext" -out "$dir/$1.crt" 2>/dev/null
	rm -f "$dir/$1.csr" "$dir/$1.ext"
}
ca="basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign"
issue identity root "Test GH100 Identity" "$ca"
issue ica identity "Test GH100 Provisioner ICA 1" "$ca"
issue brom ica "GH100 A01 GSP BROM" "$ca"
# FWID extension: SEQUENCE { OID sha384, OCTET STRING(48) } (its last 48 bytes are the FWID)
leafext="basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
2.23.133.5.4.1=DER:303D06096086480165030402020430$fwid"
issue leaf brom "GH100 A01 GSP FMC LF" "$leafext"
issue leaf2 brom "GH100 A01 GSP FMC LF" "$leafext"
echo "$fwid" > "$dir/fwid.hex"
cat "$dir/leaf.crt" "$dir/brom.crt" "$dir/ica.crt" "$dir/identity.crt" "$dir/root.crt" > "$dir/chain.pem"
cat "$dir/leaf.crt" "$dir/ica.crt" "$dir/identity.crt" "$dir/root.crt" > "$dir/chain4.pem"
