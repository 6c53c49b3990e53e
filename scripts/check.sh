#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The whole test suite: the normal build and the ASan+UBSan build, then one summary line.
set -uo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C
rc=0
for b in build build-asan; do
	rm -f "$b/meson-logs/testlog.json"
	if ! ninja -C "$b" >"$b.ninja.log" 2>&1; then
		cat "$b.ninja.log" >&2
		echo "check: build '$b' failed" >&2
		rc=1
		continue
	fi
	meson test -C "$b" --print-errorlogs --num-processes "${CN_TEST_JOBS:-2}" ${CN_TEST_ARGS:-} || rc=1
done
python3 scripts/test-summary.py build build-asan || rc=1
exit $rc
