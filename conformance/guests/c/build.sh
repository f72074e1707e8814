#!/bin/sh
# Rebuilds the C guests of the conformance corpus from source. Needs Debian's
#   apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32
# The .wasm files are committed beside the cases (conformance/cases/real/), so neither the build
# nor the tests need this toolchain.
set -eu
cd "$(dirname "$0")"
out=../../cases/real
mkdir -p "$out"
for src in *.c; do
  name=${src%.c}
  clang --target=wasm32-wasi -O2 -Wl,--strip-all -o "$out/$name.wasm" "$src"
  echo "built $out/$name.wasm"
done
