#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer through cargo-fuzz) of what reads untrusted bytes, on the
# stable toolchain: cargo-fuzz passes nightly-only `-Z` flags, which stable rustc accepts under
# RUSTC_BOOTSTRAP=1 (this machine cannot install nightly).
#
#   scripts/fuzz.sh [TARGET|all] [SECONDS per target, default 60] [SANITIZER: address|none]
#
# Targets (fuzz/fuzz_targets): features_wire, image_intake, json_request, multipart_request.
# Each runs from its seeds (fuzz/seeds/TARGET; image_intake also gets a few CIFAR-10 JPEGs, read
# in place) plus what earlier runs found (~/.cache/vision/fuzz/corpus/TARGET). A crash stops the
# run with its input under fuzz/artifacts/TARGET; replay it with
# `RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz TARGET fuzz/artifacts/TARGET/crash-...`.
set -euo pipefail
cd "$(dirname "$0")/.."

target=${1:-all}
seconds=${2:-60}
sanitizer=${3:-address}
all=(features_wire image_intake json_request multipart_request)
if [[ $target == all ]]; then targets=("${all[@]}"); else targets=("$target"); fi

if ! command -v cargo-fuzz >/dev/null; then
    echo "fuzz.sh: installing cargo-fuzz from crates.io"
    cargo install cargo-fuzz --version 0.13.2 --locked
fi
export RUSTC_BOOTSTRAP=1
# Its own build folder: instrumented artifacts never mix with the platform's.
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$HOME/.cache/vision/fuzz/target}"
corpus_root="$HOME/.cache/vision/fuzz/corpus"

for t in "${targets[@]}"; do
    corpus="$corpus_root/$t"
    mkdir -p "$corpus"
    if [[ $t == image_intake && -f ../shared/data/cifar10/test.tar.gz ]] && ! ls "$corpus"/*.jpg >/dev/null 2>&1; then
        tar -xzf ../shared/data/cifar10/test.tar.gz -C "$corpus" --wildcards --no-anchored \
            --transform 's#.*/##' '*/airplane/000[0-4].jpg' 2>/dev/null || true
    fi
    echo "fuzz.sh: $t for ${seconds} s (sanitizer: $sanitizer)"
    # -rss_limit_mb: a leak or an unbounded allocation is a finding too.
    cargo fuzz run --fuzz-dir fuzz --sanitizer "$sanitizer" "$t" "$corpus" "fuzz/seeds/$t" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1
done
