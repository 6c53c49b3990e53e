#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The multi-call binary: help, version, unknown commands, aliases by argv[0].
set -euo pipefail
: "${COCOON:?}"
fail() { echo "FAIL: $*" >&2; exit 1; }
expect_rc() { local want=$1; shift; set +e; "$@" >/dev/null 2>&1; local rc=$?; set -e; [ "$rc" = "$want" ] || fail "'$*' exited $rc, expected $want"; }

"$COCOON" --help | grep -q '^Usage: cocoon' || fail "--help"
"$COCOON" --help | grep -q 'ocsp-request' || fail "--help does not list attest ocsp-request"
"$COCOON" --version | grep -qE '^cocoon [0-9]+\.[0-9]+' || fail "--version"
expect_rc 2 "$COCOON"
expect_rc 2 "$COCOON" no-such-command
err=$("$COCOON" no-such-command 2>&1 || true)
[[ "$err" == *"unknown command 'no-such-command'"* ]] || fail "unknown command message: $err"
for c in model attest gpu launch; do
	"$COCOON" $c --help >/dev/null || fail "$c --help"
done
for a in build-model gpu-attest setup-gpu-vfio cocoon-launch; do
	exe="$(dirname "$COCOON")/$a"
	[ -L "$exe" ] || fail "alias $a missing in the build tree"
	"$exe" --help >/dev/null || fail "$a --help"
done
# One exit-code table (src/cli/exit.h): a usage error is 2 for every verb and alias, never 64.
for v in "model build" "model verify" "model open" "model close" "attest verify" \
	"attest ocsp-request" "gpu list" "gpu verify" "gpu setup" "gpu restore" launch; do
	expect_rc 2 "$COCOON" $v --no-such-option
done
for a in build-model gpu-attest setup-gpu-vfio cocoon-launch; do
	expect_rc 2 "$(dirname "$COCOON")/$a" --no-such-option
done
expect_rc 2 "$COCOON" model verify
expect_rc 2 "$COCOON" model verify a b c --root-hash 0000000000000000000000000000000000000000000000000000000000000000
err=$("$COCOON" gpu verify 2>&1 || true)
[[ "$err" == *"gpu verify takes exactly 1 argument (BDF), not 0"* ]] || fail "argument count message: $err"
echo ok
