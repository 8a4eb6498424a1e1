#!/usr/bin/env python3
"""Sanity check of the exported backbone: ImageNet top-5 on scikit-learn's sample photos.

Builds the `--imagenet-head` graph of export_backbone.py (or loads --model), runs it with
onnxruntime on sklearn's bundled china.jpg and flower.jpg (shorter side resized to the
input size, center crop, PIL bicubic), prints the top-5 ImageNet classes, and asserts:
  - flower.jpg top-1 is daisy (ImageNet index 985)
  - china.jpg top-5 contains a building class (palace, monastery, stupa, church, ...)
Exit status 0 when both hold. test_imagenet.py runs the same under pytest.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

DAISY = 985
BUILDING_CLASSES = {
    698: "palace", 663: "monastery", 832: "stupa", 497: "church", 442: "bell cote",
    538: "dome", 668: "mosque", 483: "castle",
}
# a few names for readable output (not needed for the assertions)
NAMES = {985: "daisy", 738: "pot", 883: "vase", 309: "bee", 975: "lakeside",
         947: "mushroom", 996: "hen-of-the-woods",
         **BUILDING_CLASSES}


def load_sample_images(size: int = 224) -> dict:
    """sklearn sample photos -> {name: uint8 [size, size, 3]} (shorter side + center crop)."""
    from PIL import Image
    from sklearn.datasets import load_sample_images as _load
    data = _load()
    out = {}
    for fname, img in zip(data.filenames, data.images):
        im = Image.fromarray(img)
        w, h = im.size
        scale = size / min(w, h)
        nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
        im = im.resize((nw, nh), Image.BICUBIC)
        left, top = (nw - size) // 2, (nh - size) // 2
        im = im.crop((left, top, left + size, top + size))
        out[os.path.basename(fname)] = np.asarray(im, dtype=np.uint8)
    return out


def make_session(model_path: str | None = None, size: int = 224):
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    if model_path is None:
        import export_backbone
        model = export_backbone.build_model(size, imagenet_head=True)
        return ort.InferenceSession(model.SerializeToString(), opts,
                                    providers=["CPUExecutionProvider"])
    return ort.InferenceSession(model_path, opts, providers=["CPUExecutionProvider"])


def softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def top5(session, images: dict) -> dict:
    names = sorted(images)
    batch = np.stack([images[n] for n in names]).astype(np.float32)
    (logits,) = session.run(["logits"], {"pixels": batch})
    probs = softmax(logits.astype(np.float64))
    res = {}
    for n, p in zip(names, probs):
        idx = np.argsort(-p)[:5]
        res[n] = [(int(i), float(p[i])) for i in idx]
    return res


def check(results: dict) -> list:
    """Return a list of failure messages (empty when the checks pass)."""
    errors = []
    flower = results["flower.jpg"]
    if flower[0][0] != DAISY:
        errors.append(f"flower.jpg top-1 is {flower[0][0]}, expected daisy ({DAISY})")
    china = [i for i, _ in results["china.jpg"]]
    if not any(i in BUILDING_CLASSES for i in china):
        errors.append(f"china.jpg top-5 {china} has no building class")
    return errors


def main(argv=None):
    ap = argparse.ArgumentParser(description="ImageNet sanity check of the exported backbone")
    ap.add_argument("--model", help="an --imagenet-head ONNX file (default: build it in memory)")
    ap.add_argument("--size", type=int, default=224)
    a = ap.parse_args(argv)
    sess = make_session(a.model, a.size)
    results = top5(sess, load_sample_images(a.size))
    for name, top in results.items():
        print(name)
        for i, p in top:
            print(f"  {i:4d} {NAMES.get(i, ''):<14s} {p:.4f}")
    errors = check(results)
    for e in errors:
        print("FAIL:", e)
    print("ImageNet check:", "FAILED" if errors else "OK")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
