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
echo ok
