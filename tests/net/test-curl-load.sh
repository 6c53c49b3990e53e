#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# libcurl is opened at the first network use (src/net/curl-load.c), not at every start:
#  - commands that never use the network do not map it;
#  - a network command maps it (the image build by name, against a closed port);
#  - a libcurl.so.4 that lacks a symbol: exit 1, one line naming the library and the symbol;
#    nothing on stdout, no image.
source "${CN_SOURCE_DIR:?}/tests/model/lib.sh"
unset HF_TOKEN HUGGING_FACE_HUB_TOKEN HF_TOKEN_PATH HF_HUB_OFFLINE
export HF_HOME=$WORK/hf HF_ENDPOINT=https://127.0.0.1:9 HF_HUB_DOWNLOAD_TIMEOUT=2

libs_of() { # COMMAND...: the libraries the dynamic loader opened, one a line
	LD_DEBUG=libs "$@" 2>&1 >/dev/null | sed -n 's/.*calling init: //p'
}
for cmd in "--version" "attest run --help" "gpu --help" "model verify --help"; do
	# shellcheck disable=SC2086
	libs=$(libs_of "$COCOON" $cmd || true)
	[[ $libs == *libcrypto.so* ]] || fail "'cocoon $cmd': LD_DEBUG shows no libraries"
	[[ $libs != *libcurl* ]] || fail "'cocoon $cmd' loaded libcurl"
done
libs=$(libs_of "$COCOON" model build -q --images-dir "$WORK/img" t/none@main || true)
[[ $libs == *libcurl.so.4* ]] || fail "a build by name did not load libcurl"

# A libcurl.so.4 without libcurl's symbols, found first through LD_LIBRARY_PATH.
command -v cc >/dev/null || skip "cc missing (needed to make a stand-in libcurl.so.4)"
mkdir -p "$WORK/lib"
echo 'int cn_not_curl(void) { return 0; }' | cc -shared -fPIC -x c -o "$WORK/lib/libcurl.so.4" - ||
	fail "cannot build the stand-in library"
set +e
LD_LIBRARY_PATH=$WORK/lib "$COCOON" model build -q --images-dir "$WORK/img" t/none@main \
	>"$WORK/out" 2>"$WORK/err"
rc=$?
set -e
[ $rc = 1 ] || fail "broken libcurl: exit $rc, want 1 ($(cat "$WORK/err"))"
[ "$(wc -l <"$WORK/err")" = 1 ] || fail "broken libcurl: want one line, got: $(cat "$WORK/err")"
grep -q 'cannot load libcurl.so.4: it has no symbol curl_global_init' "$WORK/err" ||
	fail "broken libcurl: message does not name the library and symbol: $(cat "$WORK/err")"
[ ! -s "$WORK/out" ] || fail "broken libcurl: something on stdout"
[ -z "$(find "$WORK/img" -name "*.tar*" 2>/dev/null)" ] || fail "broken libcurl: an image in the store"
echo "PASS: libcurl loaded at the first network use only"
