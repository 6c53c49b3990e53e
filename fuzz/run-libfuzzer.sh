#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A short, deterministic libFuzzer run of one target (the -Dfuzz=true build's `meson test`):
# fixed seed and run count, starting from the committed corpus, writing new inputs to a
# temporary directory so the repository's corpus is never modified.
set -euo pipefail
exe=$1 corpus=$2 runs=${3:-${CN_FUZZ_RUNS:-20000}}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
exec "$exe" -seed=1 -runs="$runs" -max_len=65536 -timeout=20 -rss_limit_mb=2048 \
	-print_final_stats=1 "$tmp" "$corpus"
