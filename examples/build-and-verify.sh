#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Builds examples/tiny-model, verifies it, and cross-checks it with GNU tar + veritysetup.
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C
C=./build/cocoon; I=${1:-build/images}
line=$($C model build --from-dir examples/tiny-model --images-dir "$I" --tar-format gnu-1.34 \
	example/tiny-model@3b1c0f5e9d2a4c6b8e0f1a3c5d7e9b2a4c6e8f01)
echo "$line"
tar=${line#* }
$C model verify "$tar" --hash-file "$tar.hash"
if command -v veritysetup >/dev/null && tar --version | grep -q 'GNU tar) 1.34'; then
	t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
	tar -cf "$t/ref.tar" -C examples/tiny-model . --sort=name --format=posix \
		--pax-option='exthdr.name=%d/PaxHeaders/%f' --pax-option='delete=atime,delete=ctime' \
		--clamp-mtime --mtime=@0 --numeric-owner --owner=0 --group=0 --mode='go+u,go-w'
	s=$(stat -c %s "$t/ref.tar"); head -c $((4096 - s % 4096)) /dev/zero >> "$t/ref.tar"
	veritysetup format --uuid=645ac31f-7610-42e1-8434-9d733699eac0 --salt=00010203040506070809101a1b1c1d1e1f \
		"$t/ref.tar" "$t/ref.verity" --root-hash-file="$t/ref.hash" >/dev/null
	cmp "$t/ref.tar" "$tar" && cmp "$t/ref.verity" "$tar.verity" && cmp "$t/ref.hash" "$tar.hash"
	echo "reference pipeline (GNU tar 1.34 + veritysetup): identical"
fi
