"""CIFAR-10 JPEG tarball reading and EXPLORATION-ONLY preprocessing/feature extraction.

The shipped features are computed by the Rust runtime; this Python path (PIL bilinear
resize of the 32x32 image to SxS, onnxruntime) exists for exploration and for testing
train_heads.py before the Rust features exist.
"""
from __future__ import annotations

import io
import os
import tarfile
import time

import numpy as np

CLASSES = ["airplane", "automobile", "bird", "cat", "deer",
           "dog", "frog", "horse", "ship", "truck"]
DATA_DIR = os.environ.get("CIFAR10_DIR", "/work/shared/data/cifar10")


def read_split(split: str, data_dir: str = DATA_DIR):
    """All images of a split: (uint8 [n,32,32,3], int64 labels [n], names [n]), sorted by name."""
    from PIL import Image
    items = []
    with tarfile.open(os.path.join(data_dir, f"{split}.tar.gz"), "r:gz") as tar:
        for m in tar:
            if not m.isfile() or not m.name.endswith(".jpg"):
                continue
            parts = m.name.split("/")
            cls = parts[-2]
            if cls not in CLASSES:
                continue
            data = tar.extractfile(m).read()
            img = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.uint8)
            items.append((m.name, CLASSES.index(cls), img))
    items.sort(key=lambda t: t[0])
    names = [t[0] for t in items]
    labels = np.array([t[1] for t in items], dtype=np.int64)
    images = np.stack([t[2] for t in items])
    return images, labels, names


def resize_batch(images: np.ndarray, size: int) -> np.ndarray:
    """EXPLORATION ONLY: PIL bilinear upscale of uint8 HWC images to float32 [n,S,S,3]."""
    from PIL import Image
    out = np.empty((len(images), size, size, 3), dtype=np.float32)
    for i, img in enumerate(images):
        out[i] = np.asarray(Image.fromarray(img).resize((size, size), Image.BILINEAR),
                            dtype=np.float32)
    return out


def make_session(path, threads: int = 1):
    import onnxruntime as ort
    o = ort.SessionOptions()
    o.intra_op_num_threads = threads
    o.inter_op_num_threads = 1
    return ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])


def extract_features(session, images: np.ndarray, size: int, flip: bool = False,
                     batch: int = 64) -> np.ndarray:
    """EXPLORATION ONLY: backbone features for uint8 32x32 images (optionally h-flipped)."""
    feats = []
    for i in range(0, len(images), batch):
        chunk = images[i:i + batch]
        if flip:
            chunk = chunk[:, :, ::-1, :]
        x = resize_batch(np.ascontiguousarray(chunk), size)
        (f,) = session.run(["features"], {"pixels": x})
        feats.append(f)
    return np.concatenate(feats).astype(np.float32)


def time_backbone(path: str, size: int, batch: int = 8, repeats: int = 7) -> float:
    """ms per image with onnxruntime, 1 thread, batches of `batch`: the minimum over
    `repeats` runs after a warm-up (the machine is shared, so the minimum is the stable
    number)."""
    sess = make_session(path, threads=1)
    x = np.random.default_rng(0).uniform(0, 255, (batch, size, size, 3)).astype(np.float32)
    sess.run(None, {"pixels": x})
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        sess.run(None, {"pixels": x})
        best = min(best, time.perf_counter() - t)
    return best * 1000 / batch
