#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Sums meson's testlog.json of each build dir given and prints 'N passed, N failed, N skipped'.
Exit status 0 only when nothing failed and at least one test ran."""
import json
import os
import sys

passed = failed = skipped = 0
for build in sys.argv[1:]:
    path = os.path.join(build, "meson-logs", "testlog.json")
    if not os.path.exists(path):
        print(f"{build}: no test log (build failed?)", file=sys.stderr)
        failed += 1
        continue
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            t = json.loads(line)
            res = t.get("result", "")
            if res in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif res == "SKIP":
                skipped += 1
            else:
                failed += 1
                print(f"FAILED [{os.path.basename(build)}] {t.get('name')}: {res}", file=sys.stderr)
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(0 if failed == 0 and passed > 0 else 1)
