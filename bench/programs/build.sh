#!/bin/sh
# Rebuilds the benchmark programs of this folder: C sources compiled for WASI preview 1.
#
# Needs clang and lld with WASI's C library (Debian 12: apt-get install clang lld wasi-libc
# libclang-rt-14-dev-wasm32). The .wasm files are committed, so that nothing else needs a C
# toolchain; rebuild them after changing a source and commit both. Output is reproducible with
# the same toolchain (Debian clang 14.0.6, wasi-libc 0.0~git20220510.9886d3d).
set -eu
cd "$(dirname "$0")"
CC=${CC:-clang}
for src in *.c; do
    out=${src%.c}.wasm
    "$CC" --target=wasm32-wasi -O2 -Wall -Wextra -Werror -Wl,--strip-all -o "$out" "$src"
    echo "built $out ($(wc -c < "$out") bytes)"
done
