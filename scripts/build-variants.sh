#!/usr/bin/env bash
# Other descriptor sizes as extractor versions with their heads (F24: 10 / 20 / 50). The
# shipped extractor's backbone (fine-tuned; cut at its `features` by cut_backbone.py) gets a
# PCA to each size fitted on the CIFAR-10 train split's features (validation held out, as for
# the shipped models), and the three head families are trained on it. Each size is a bundle in
# models/variants/pca<D>/ (extractor.onnx, fast/balanced/accurate.onnx, manifest.json,
# TRAINING.md) that `vision models import models/variants/pca<D>` registers beside production.
# About 45 minutes on 2 cores; features go to data/features/, the backbone to models/build/out/.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/vision/target}
SIZE=$(python3 -c 'import json; print(json.load(open("models/manifest.json"))["input_size"])')
DIMS=${DIMS:-"10 50"}
DATASET=${CIFAR10_DIR:-../shared/data/cifar10}
out=models/build/out
data=data/features
mkdir -p "$out" "$data"

scripts/python-env.sh
ORT_DYLIB_PATH=$(realpath "$(ls .venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so* | head -n 1)")
export ORT_DYLIB_PATH
# MODELS_TOOL: a vision-models binary already built (the debug one runs the same code).
if [ -z "${MODELS_TOOL:-}" ]; then
    cargo build --release --locked -p vision-inference --bin vision-models
fi
models_tool=${MODELS_TOOL:-$CARGO_TARGET_DIR/release/vision-models}
featurize() { "$models_tool" featurize --runtime ort --threads 2 --size "$SIZE" "$@"; }

backbone="$out/backbone_shipped_${SIZE}.onnx"
.venv/bin/python models/build/cut_backbone.py --extractor models/extractor.onnx --out "$backbone"
[ -f "$data/shipped_train_${SIZE}/features_flip.npy" ] ||
    featurize --model "$backbone" --split train --dataset "$DATASET/train.tar.gz" --flip --out "$data/shipped_train_${SIZE}"
[ -f "$data/shipped_test_${SIZE}/features.npy" ] ||
    featurize --model "$backbone" --split test --dataset "$DATASET/test.tar.gz" --out "$data/shipped_test_${SIZE}"
for dim in $DIMS; do
    .venv/bin/python models/build/train_heads.py --train "$data/shipped_train_${SIZE}" --test "$data/shipped_test_${SIZE}" \
        --size "$SIZE" --pca-dim "$dim" --grid full --backbone-from models/extractor.onnx \
        --out-dir "models/variants/pca$dim" --report "models/variants/pca$dim/TRAINING.md" --compare-dims '' \
        --features-from "vision-models featurize (Rust: image crate decode + Triangle resize, ONNX Runtime via ort) on the shipped extractor's backbone"
done
