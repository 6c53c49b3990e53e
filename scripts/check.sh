#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The whole test suite: the normal build and the ASan+UBSan build (every test), then the clang
# libFuzzer build (a short deterministic run of each fuzz target), then one summary line.
set -uo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C
rc=0
# The formatter: any difference from .clang-format fails the check (make format fixes it).
if ! scripts/format.sh --check; then
	echo "check: clang-format differences (run 'make format')" >&2
	rc=1
fi
for b in build build-asan build-fuzz; do
	rm -f "$b/meson-logs/testlog.json"
	if ! ninja -C "$b" >"$b.ninja.log" 2>&1; then
		cat "$b.ninja.log" >&2
		echo "check: build '$b' failed" >&2
		rc=1
		continue
	fi
	suite=()
	[ "$b" = build-fuzz ] && suite=(--suite fuzz)
	meson test -C "$b" --print-errorlogs --num-processes "${CN_TEST_JOBS:-2}" "${suite[@]}" ${CN_TEST_ARGS:-} || rc=1
done
python3 scripts/test-summary.py build build-asan build-fuzz || rc=1
exit $rc
