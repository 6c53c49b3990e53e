#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Allocation failures never make the verifier accept, nor skip the check that should reject
# (issue 10 item 2). Each rejecting scenario runs with a failure injected at the first allocation
# of every call site in our code that allocates (tests/attest/test-attest-alloc.c, each run in a
# child process); every run must reject with the expected failure recorded, or end in an error.
# Scenarios use only what their defect needs (no RIMs or OCSP unless the check is about them), so
# that the sweep stays in tens of seconds under ASan. CN_ALLOC_STRIDE=1 injects at every single
# allocation instead (minutes); CN_ALLOC_FULL=1 adds the scenarios with RIMs.
set -euo pipefail
: "${COCOON:?}" "${CN_MKREPORT:?}" "${CN_SOURCE_DIR:?}" "${CN_ATTEST_ALLOC:?}"
. "$CN_SOURCE_DIR/tests/attest/e2e-setup.sh"
STRIDE=${CN_ALLOC_STRIDE:-0}
printf '{"version":"4.0","authorization-rules":{"type":"JWT","overall-claims":{},"detached-claims":{}}}' > lax.json

# sweep NAME [options...]: with --policy lax.json (accepts any authentic evidence) the check
# under test is the only reason to reject, so "never accepted" proves it never got skipped;
# with the default policy, --expect CHECK requires every rejection to record that check.
sweep() {
	local name=$1 out
	shift
	out=$("$CN_ATTEST_ALLOC" --stride "$STRIDE" --nonce $N --device-root dev/root.crt \
		--rim-root rim/root.crt "$@" 2>"$name.err") ||
		{ tail -20 "$name.err" >&2; fail "$name: $out"; }
	echo "$name: $out"
}
two() { # OUT REPORT-A CHAIN-A REPORT-B CHAIN-B
	printf '[{"arch":"HOPPER","nonce":"%s","evidence":"%s","certificate":"%s"},{"arch":"HOPPER","nonce":"%s","evidence":"%s","certificate":"%s"}]\n' \
		$N "$(base64 -w0 "$2")" "$(base64 -w0 "$3")" $N "$(base64 -w0 "$4")" "$(base64 -w0 "$5")" > "$1"
}
C_CHAIN=x-nvidia-gpu-attestation-report-cert-chain

# One GPU listed twice: the fail-open of issue 10 (a ueid that could not be printed was skipped).
# The lax policy accepts anything authentic: only the duplicate check can reject.
two twice.json good.bin dev/chain.pem good.bin dev/chain.pem
sweep same-gpu --policy lax.json --evidence twice.json

# Two GPUs in different modes (FEATURE_FLAG)
cat dev/leaf2.crt dev/brom.crt dev/ica.crt dev/identity.crt dev/root.crt > chain2.pem
report ff0.bin --opaque 34=0100 --opaque 36=00
"$CN_MKREPORT" --key dev/leaf2.key --nonce $N --out ff1.bin --fwid "$FWID" "${measures[@]}" \
	--opaque 34=0100 --opaque 36=01
two mixed.json ff0.bin dev/chain.pem ff1.bin chain2.pem
sweep feature-flag --expect feature_flag --evidence mixed.json

# A report signed by another key; a report for another nonce
"$CN_MKREPORT" --key dev/leaf2.key --nonce $N --out sig.bin --fwid "$FWID" "${measures[@]}"
evidence ev-sig.json sig.bin dev/chain.pem
sweep signature --policy lax.json --evidence ev-sig.json
"$CN_MKREPORT" --key dev/leaf.key --nonce $N2 --out nonce.bin --fwid "$FWID" "${measures[@]}"
evidence ev-nonce.json nonce.bin dev/chain.pem
sweep nonce --policy lax.json --evidence ev-nonce.json

# A revoked intermediate of the device chain
sed "s/^V\(\t[^\t]*\t\)\t\($(serial dev/ica.crt)\)/R\1$(date -u +%y%m%d%H%M%SZ),keyCompromise\t\2/" \
	index.txt > index-revoked.txt
ocsp_set ocsp-revoked index-revoked.txt
sweep ocsp-revoked --expect $C_CHAIN --evidence good.json --ocsp-dir ocsp-revoked

if [ -n "${CN_ALLOC_FULL:-}" ]; then
	report meas.bin --measure "10=$(hash other)"
	evidence ev-meas.json meas.bin dev/chain.pem
	sweep measurement --expect measres --evidence ev-meas.json --rim-dir rims
	sweep feature-flag-full --expect feature_flag --evidence mixed.json --rim-dir rims --ocsp-dir ocsp
fi
echo "attest alloc: OK"
