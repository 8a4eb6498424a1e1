#!/usr/bin/env python3
"""STAND-IN for the Rust feature tool (testing/exploration only, not the shipped path).

Writes the layout train_heads.py reads, for one CIFAR-10 split and input size:
  OUT/features.npy float32 [n,1280], OUT/labels.npy int64 [n], optionally OUT/features_flip.npy
Images are sorted by their path in the tarball; the 32x32 image is upscaled to SxS with PIL
bilinear (the Rust runtime does its own resize, so its features differ slightly).

Usage: py_features.py --split train --size 160 --out out/pyfeat/train_160 [--flip] [--threads 2]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import cifar_data  # noqa: E402
import export_backbone  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", choices=["train", "test"], required=True)
    ap.add_argument("--size", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--flip", action="store_true", help="also write features_flip.npy")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0, help="first N images only (smoke tests)")
    a = ap.parse_args(argv)

    cache = os.path.join(HERE, "out", f"cifar_{a.split}.npz")
    if os.path.exists(cache):
        d = np.load(cache)
        images, labels = d["images"], d["labels"]
    else:
        images, labels, _ = cifar_data.read_split(a.split)
        os.makedirs(os.path.dirname(cache), exist_ok=True)
        np.savez(cache, images=images, labels=labels)
    if a.limit:
        images, labels = images[: a.limit], labels[: a.limit]
    model = os.path.join(HERE, "out", f"backbone_{a.size}.onnx")
    if not os.path.exists(model):
        import onnx
        onnx.save(export_backbone.build_model(a.size), model)
    sess = cifar_data.make_session(model, a.threads)
    os.makedirs(a.out, exist_ok=True)
    np.save(os.path.join(a.out, "labels.npy"), labels.astype(np.int64))
    for flip in ([False, True] if a.flip else [False]):
        t = time.time()
        f = cifar_data.extract_features(sess, images, a.size, flip=flip)
        name = "features_flip.npy" if flip else "features.npy"
        np.save(os.path.join(a.out, name), f)
        print(f"{a.split} {a.size} {name}: {len(f)} images in {time.time() - t:.0f}s", flush=True)


if __name__ == "__main__":
    main()
