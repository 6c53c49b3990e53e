#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# Test RIMs for cocoon-gpu, made with the real tools: a P-384 test PKI from `openssl` and
# RIMs signed with `xmlsec1` exactly as NVIDIA signs theirs (enveloped, c14n 1.1, ecdsa-sha384,
# sha384 digest, the signer chain embedded in ds:X509Data). Shared by the rim and attest tests.
#
#   make-test-rim.sh pki DIR
#       DIR/root.{key,crt}   self-signed "Test CoRIM Root" (the anchor: pass root.crt as the
#                            --rim-root / root_pem_path replacement of the pin)
#       DIR/ca.{key,crt}     intermediate CA
#       DIR/signer.{key,crt} end-entity signer (CA:FALSE, digitalSignature); valid for
#                            $SIGNER_DAYS days (default 365) from now
#       DIR/other-root.crt   an unrelated self-signed root (wrong-anchor tests)
#       $OCSP_URL, if set, becomes the AIA OCSP URI of ca.crt and signer.crt.
#
#   make-test-rim.sh template PRODUCT VERSION SPEC... > unsigned.xml
#       A SWID RIM with one Resource per SPEC, in order:
#         INDEX=HEX[/HEX...]   active, alternatives = the HEX values (size = bytes of the first)
#         INDEX-               inactive, 48 zero bytes
#       VERSION "xx.xx.xx.xx.xx" makes a VBIOS RIM, anything else a driver RIM.
#
#   make-test-rim.sh sign DIR IN.xml OUT.xml
#       Signs IN with DIR/signer.key, embedding signer.crt, ca.crt and root.crt (in that order).
#
# Example: make-test-rim.sh template GH100 550.90.07 7=$(printf '%096d' 0) 21=ab..  > t.xml
set -eu

die() { echo "make-test-rim.sh: $*" >&2; exit 1; }

pki() {
	dir=$1
	mkdir -p "$dir"
	days=${SIGNER_DAYS:-365}
	aia=""
	[ -n "${OCSP_URL:-}" ] && aia="authorityInfoAccess=OCSP;URI:$OCSP_URL"
	curve="-newkey ec -pkeyopt ec_paramgen_curve:secp384r1 -nodes"
	openssl req -x509 $curve -keyout "$dir/root.key" -out "$dir/root.crt" -sha384 -days 7300 \
		-subj "/C=US/O=cocoon-test/CN=Test CoRIM signing Root CA" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
		2>/dev/null
	openssl req -x509 $curve -keyout "$dir/other-root.key" -out "$dir/other-root.crt" -sha384 -days 7300 \
		-subj "/C=US/O=cocoon-test/CN=Test CoRIM signing Root CA" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
		2>/dev/null
	openssl req $curve -keyout "$dir/ca.key" -out "$dir/ca.csr" -subj "/O=cocoon-test/CN=Test Reference Value CA" 2>/dev/null
	printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n%s\n' "$aia" > "$dir/ca.ext"
	openssl x509 -req -in "$dir/ca.csr" -CA "$dir/root.crt" -CAkey "$dir/root.key" -CAcreateserial \
		-sha384 -days 3650 -extfile "$dir/ca.ext" -out "$dir/ca.crt" 2>/dev/null
	openssl req $curve -keyout "$dir/signer.key" -out "$dir/signer.csr" -subj "/O=cocoon-test/CN=Test RIM L4 Signer" 2>/dev/null
	printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n%s\n' "$aia" > "$dir/signer.ext"
	openssl x509 -req -in "$dir/signer.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
		-sha384 -days "$days" -extfile "$dir/signer.ext" -out "$dir/signer.crt" 2>/dev/null
	rm -f "$dir"/*.csr "$dir"/*.ext
}

template() {
	product=$1 version=$2
	shift 2
	cat <<XML
<SoftwareIdentity xmlns="http://standards.iso.org/iso/19770/-2/2015/schema.xsd" xmlns:ns0="http://standards.iso.org/iso/19770/-2/2015/schema.xsd" xmlns:ns2="http://www.w3.org/2001/04/xmlenc#sha384" corpus="false" name="$product" patch="false" supplemental="false" tagId="cocoon-test-$product-$version" version="1.0" tagVersion="0">
    <ns0:Entity name="cocoon test" role="softwareCreator tagCreator"/>
    <ns0:Meta xmlns:ns1="https://trustedcomputinggroup.org/resource/tcg-reference-integrity-manifest-rim-information-model/" colloquialVersion="$version" edition="GPU" product="$product" revision="r1" PayloadType="direct" ns1:BindingSpec="RIMIM" ns1:BindingSpecVersion="1.01" ns1:PlatformManufacturerId="5703" ns1:PlatformManufacturerStr="NVIDIA Corporation" ns1:PlatformModel="$product" ns1:FirmwareManufacturer="NVIDIA Corporation" ns1:FirmwareManufacturerId="5703"/>
    <ns0:Payload>
XML
	zero=000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000
	for spec in "$@"; do
		case $spec in
		*-)
			idx=${spec%-}
			echo "        <ns0:Resource type=\"Measurement\" index=\"$idx\" active=\"False\" alternatives=\"1\" ns2:Hash0=\"$zero\" name=\"Measurement_$idx\" size=\"48\"/>"
			;;
		*=*)
			idx=${spec%%=*}
			vals=${spec#*=}
			first=${vals%%/*}
			size=$(( ${#first} / 2 ))
			n=0 attrs=""
			rest=$vals
			while :; do
				v=${rest%%/*}
				attrs="$attrs ns2:Hash$n=\"$v\""
				n=$((n + 1))
				[ "$rest" = "$v" ] && break
				rest=${rest#*/}
			done
			echo "        <ns0:Resource type=\"Measurement\" index=\"$idx\" active=\"True\" alternatives=\"$n\"$attrs name=\"Measurement_$idx\" size=\"$size\"/>"
			;;
		*) die "bad resource spec '$spec'" ;;
		esac
	done
	cat <<'XML'
    </ns0:Payload>
<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2006/12/xml-c14n11"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384"/><ds:Reference URI=""><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2006/12/xml-c14n11"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#sha384"/><ds:DigestValue/></ds:Reference></ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data/></ds:KeyInfo></ds:Signature></SoftwareIdentity>
XML
}

sign() {
	dir=$1 in=$2 out=$3
	xmlsec1 --sign --privkey-pem "$dir/signer.key,$dir/signer.crt,$dir/ca.crt,$dir/root.crt" \
		--output "$out" "$in" >/dev/null 2>&1 || die "xmlsec1 --sign failed for $in"
}

[ $# -ge 1 ] || die "usage: make-test-rim.sh pki DIR | template PRODUCT VERSION SPEC... | sign DIR IN OUT"
cmd=$1
shift
case $cmd in
pki) [ $# -eq 1 ] || die "usage: pki DIR"; pki "$1" ;;
template) [ $# -ge 3 ] || die "usage: template PRODUCT VERSION SPEC..."; template "$@" ;;
sign) [ $# -eq 3 ] || die "usage: sign DIR IN OUT"; sign "$@" ;;
*) die "unknown command '$cmd'" ;;
esac
