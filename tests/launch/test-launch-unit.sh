#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# contrib/cocoon-worker@.service: systemd accepts it (systemd-analyze verify, with the binary
# paths pointed at the build), it is a template on the instance, and the GPU check is a precondition.
set -euo pipefail
: "${COCOON:?}" "${CN_SOURCE_DIR:?}"
command -v systemd-analyze >/dev/null || { echo "SKIP: systemd-analyze not installed"; exit 77; }
unit="$CN_SOURCE_DIR/contrib/cocoon-worker@.service"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
bindir=$(dirname "$COCOON")
sed -e "s|/usr/bin/cocoon-launch|$bindir/cocoon-launch|g" -e "s|/usr/bin/cocoon |$COCOON |g" "$unit" > "$T/cocoon-worker@.service"
ln -s "cocoon-worker@.service" "$T/cocoon-worker@3.service"
out=$(cd "$T" && SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no "$T/cocoon-worker@3.service" 2>&1 || true)
if [ -n "$out" ]; then
	echo "$out" | grep -v -e 'qgsd.service' -e "Failed to put bus name" -e "Failed to connect" >&2 && { echo "FAIL: systemd-analyze verify" >&2; exit 1; }
fi
grep -q '^ExecStartPre=/usr/bin/cocoon gpu verify \${COCOON_GPU}$' "$unit" || { echo "FAIL: no GPU precondition" >&2; exit 1; }
grep -q '^ExecStart=/usr/bin/cocoon-launch --instance %i ' "$unit" || { echo "FAIL: instance is not %i" >&2; exit 1; }
grep -q '^Restart=on-failure$' "$unit" || { echo "FAIL: no restart policy" >&2; exit 1; }
echo ok
