#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# House style: no unbounded or locale-dependent text functions in src/ (use src/base/parse.h).
set -euo pipefail
cd "${CN_SOURCE_DIR:?}"
pat='\b(atoi|atol|atoll|strtol|strtoul|strtoll|strtoull|sscanf|strcpy|strcat|sprintf|vsprintf|strtok|gets|system|popen)[[:space:]]*\('
if grep -rnE "$pat" src --include='*.c' --include='*.h'; then
	echo "FAIL: banned function in src/ (see docs/CODING_STYLE.md)" >&2
	exit 1
fi
echo ok
