# SPDX-License-Identifier: Apache-2.0
# Quick start (Debian 12, as root):  make run   |   make check
.PHONY: all deps build build-asan run check bench fuzz format clean

IMAGES ?= $(CURDIR)/build/images
EXAMPLE_SPEC := example/tiny-model@3b1c0f5e9d2a4c6b8e0f1a3c5d7e9b2a4c6e8f01

all: build

deps:
	@scripts/deps.sh

build/build.ninja:
	meson setup build -Dwerror=true

build-asan/build.ninja:
	meson setup build-asan -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug

build: deps build/build.ninja
	@ninja -C build

build-asan: deps build-asan/build.ninja
	@ninja -C build-asan

# The main job on the bundled example: build its image, then verify it.
run: build
	@./build/cocoon model build --from-dir examples/tiny-model --images-dir $(IMAGES) $(EXAMPLE_SPEC) > build/example.line
	@cat build/example.line
	@tar=$$(cut -d' ' -f2 build/example.line); hash=$$(cut -d' ' -f1 build/example.line | sed 's/.*://'); \
	  ./build/cocoon model verify "$$tar" --root-hash "$$hash" >&2

build-fuzz/build.ninja:
	CC=clang meson setup build-fuzz -Dwerror=true -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false

check: deps build/build.ninja build-asan/build.ninja build-fuzz/build.ninja
	@scripts/check.sh

bench: build
	@bench/run

# libFuzzer targets (clang); run one longer with e.g.
#   build-fuzz/fuzz/fuzz-attest-report -max_total_time=300 fuzz/corpus/attest-report
fuzz: deps build-fuzz/build.ninja
	ninja -C build-fuzz

# Reformat every C file in place (make check fails on any difference).
format:
	@scripts/format.sh -i

clean:
	rm -rf build build-asan build-fuzz build.ninja.log build-asan.ninja.log
