#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# clang-format over every tracked C file: `--check` reports differences (exit 1), `-i` rewrites.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.c' '*.h')
[ ${#files[@]} -gt 0 ] || exit 0
case "${1:---check}" in
--check) exec clang-format --dry-run --Werror "${files[@]}" ;;
-i) exec clang-format -i "${files[@]}" ;;
*) echo "usage: scripts/format.sh [--check|-i]" >&2; exit 2 ;;
esac
