#!/usr/bin/env python3
"""Fit PCA + the three CIFAR-10 heads on backbone features and export the shipped models.

Inputs (produced by the Rust feature tool; one directory per split, same input size):
  <dir>/features.npy       float32 [n, 1280]  backbone `features` output
  <dir>/labels.npy         int64   [n]        class index (airplane=0 ... truck=9)
  <dir>/features_flip.npy  float32 [n, 1280]  optional: the same images mirrored horizontally

Procedure (deterministic, seed 0):
  1. stratified hold-out of 5,000 validation images from the train split;
  2. PCA to --pca-dim dims (one global scale, or --whiten) fitted on the train part only;
  3. candidate heads fitted on the train part (+ mirrored rows if features_flip.npy exists),
     each scored on the validation part; per head family (fast = logistic regression,
     balanced = one-hidden-layer MLP, accurate = ensemble of wider MLPs) the best
     candidate by validation accuracy is kept, then (unless --no-refit) refitted with
     the same hyperparameters on train+validation (PCA unchanged);
  4. export models/extractor.onnx (backbone + PCA, `pixels` -> `descriptors`),
     models/{fast,balanced,accurate}.onnx (`descriptors` -> `probabilities`) and
     models/manifest.json; write models/build/TRAINING.md;
  5. print test-split accuracy (onnxruntime on the test features), for information only:
     the test split is never used for any choice.

Usage:
  train_heads.py --train DIR --test DIR --size 160 [--pca-dim 64] [--out-dir models]
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import sys
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import export_backbone  # noqa: E402
import heads  # noqa: E402
from cifar_data import CLASSES  # noqa: E402

SEED = 0
N_VAL = 5000
DEFAULT_PCA_DIM = 64
MODEL_VERSION = "v1"


# ---------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------

def load_split(d: str):
    X = np.load(os.path.join(d, "features.npy")).astype(np.float32)
    y = np.load(os.path.join(d, "labels.npy")).astype(np.int64)
    fp = os.path.join(d, "features_flip.npy")
    Xf = np.load(fp).astype(np.float32) if os.path.exists(fp) else None
    if X.ndim != 2 or X.shape[1] != export_backbone.HEAD_FILTERS:
        raise SystemExit(f"{d}/features.npy: expected [n, 1280], got {X.shape}")
    if y.shape != (len(X),) or y.min() < 0 or y.max() >= len(CLASSES):
        raise SystemExit(f"{d}/labels.npy: expected [n] class indices, got {y.shape}")
    if Xf is not None and Xf.shape != X.shape:
        raise SystemExit(f"{d}/features_flip.npy: shape {Xf.shape} != {X.shape}")
    if not np.isfinite(X).all():
        raise SystemExit(f"{d}/features.npy contains non-finite values")
    return X, y, Xf


def split_val(y, n_val=N_VAL, seed=SEED):
    from sklearn.model_selection import train_test_split
    idx = np.arange(len(y))
    tr, va = train_test_split(idx, test_size=n_val, stratify=y, random_state=seed)
    return np.sort(tr), np.sort(va)


class Projection:
    """descriptors = (features - mean) @ P.

    whiten=False (default): P = components^T / s, one scalar s so that the descriptors have
    unit variance on average (the components keep their relative scale; better for the MLPs
    than per-component whitening on validation). whiten=True: P = components^T / sqrt(var).
    """

    def __init__(self, dim, whiten=False):
        self.dim = dim
        self.whiten = whiten

    def fit(self, X):
        from sklearn.decomposition import PCA
        pca = PCA(n_components=self.dim, svd_solver="full", random_state=SEED).fit(
            X.astype(np.float64))
        self.mean = pca.mean_
        P = pca.components_.T
        if self.whiten:
            P = P / np.sqrt(pca.explained_variance_)[None, :]
        else:
            P = P / np.sqrt(pca.explained_variance_.mean())
        self.P = P
        self.explained = float(pca.explained_variance_ratio_.sum())
        return self

    def transform(self, X):
        return ((X.astype(np.float64) - self.mean) @ self.P).astype(np.float32)

    def onnx_nodes(self, g, x):
        g.const("pca.mean", self.mean.astype(np.float32))
        g.const("pca.proj", self.P.astype(np.float32))
        x = g.node("Sub", [x, "pca.mean"], "pca.center")
        return g.node("MatMul", [x, "pca.proj"], "descriptors")


# ---------------------------------------------------------------------------
# candidates
# ---------------------------------------------------------------------------

def candidates(grid="default"):
    """(family, model factory) pairs. Families: fast / balanced / accurate.
    grid: "quick" (smoke tests), "default" (the shipped choice; ~10-20 min on 2 cores for
    45k rows) or "full" (more candidates)."""
    out = []
    if grid == "quick":
        Cs = [0.01, 0.1]
        bal = [dict(hidden=(64,), dropout=0.2, weight_decay=1e-4, epochs=20)]
        acc = [dict(hidden=(128,), dropout=0.3, weight_decay=1e-4, epochs=20)]
        k = 2
    elif grid == "default":
        Cs = [0.001, 0.003, 0.01]
        bal = [dict(hidden=(512,), dropout=d, weight_decay=1e-4, epochs=30) for d in (0.3, 0.5)]
        acc = [dict(hidden=(1024,), dropout=0.5, weight_decay=1e-4, epochs=30)]
        k = 3
    else:
        Cs = [0.0003, 0.001, 0.003, 0.01, 0.03, 0.1]
        bal = [dict(hidden=(h,), dropout=d, weight_decay=1e-4, epochs=30)
               for h in (256, 512) for d in (0.3, 0.5)]
        acc = [dict(hidden=(1024,), dropout=0.5, weight_decay=1e-4, epochs=40),
               dict(hidden=(2048,), dropout=0.6, weight_decay=1e-4, epochs=40),
               dict(hidden=(1024, 512), dropout=0.4, weight_decay=1e-4, epochs=40)]
        k = 5
    for C in Cs:
        out.append(("fast", lambda C=C: heads.LogReg(C=C, seed=SEED)))
    for p in bal:
        out.append(("balanced", lambda p=p: heads.MLP(seed=SEED, **p)))
    for p in acc:
        out.append(("accurate", lambda p=p, k=k: heads.Ensemble(
            [heads.MLP(seed=SEED + i, **p) for i in range(k)])))
    return out


class FitCache:
    """Pickled fitted heads keyed by inputs + candidate, so an interrupted run resumes."""

    def __init__(self, directory, inputs_key):
        self.dir = directory
        self.inputs_key = inputs_key

    def _path(self, tag):
        h = hashlib.sha256(repr((self.inputs_key, tag)).encode()).hexdigest()[:20]
        return os.path.join(self.dir, f"{h}.pkl") if self.dir else None

    def get_or_fit(self, tag, fit):
        import pickle
        p = self._path(tag)
        if p and os.path.exists(p):
            with open(p, "rb") as f:
                return pickle.load(f), True
        mdl = fit()
        if p:
            os.makedirs(self.dir, exist_ok=True)
            with open(p + ".tmp", "wb") as f:
                pickle.dump(mdl, f)
            os.replace(p + ".tmp", p)
        return mdl, False


def _file_key(path):
    if not os.path.exists(path):
        return None
    st = os.stat(path)
    with open(path, "rb") as f:
        head = f.read(1 << 20)
    return (os.path.abspath(path), st.st_size, int(st.st_mtime), hashlib.sha256(head).hexdigest())


def accuracy(p, y):
    return float((p.argmax(1) == y).mean())


def descriptor_sizes(X_tr, y_tr, X_va, y_va, dims, C=0.01):
    """Validation accuracy of logistic regression on the first d principal components, for
    each d in dims (one PCA, truncated: the components are ordered), to choose the
    descriptor size by its trade-off. Returns [(d, val_acc, explained_variance)]."""
    from sklearn.decomposition import PCA
    dims = sorted(set(dims))
    pca = PCA(n_components=dims[-1], svd_solver="full", random_state=SEED).fit(
        X_tr.astype(np.float64))
    Z_tr, Z_va = pca.transform(X_tr), pca.transform(X_va)
    rows = []
    for d in dims:
        lr = heads.LogReg(C=C, seed=SEED).fit(Z_tr[:, :d], y_tr)
        rows.append((d, accuracy(lr.predict_proba(Z_va[:, :d]), y_va),
                     float(pca.explained_variance_ratio_[:d].sum())))
    return rows


# ---------------------------------------------------------------------------
# ONNX export
# ---------------------------------------------------------------------------

def head_model(head, dim, name, doc):
    from onnx import TensorProto, helper
    g = export_backbone.GraphBuilder()
    out = head.onnx_nodes(g, "descriptors", prefix=name)
    g.nodes.append(helper.make_node("Identity", [out], ["probabilities"], name="probabilities"))
    graph = helper.make_graph(
        g.nodes, name,
        [helper.make_tensor_value_info("descriptors", TensorProto.FLOAT, ["N", dim])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", len(CLASSES)])],
        g.inits)
    return export_backbone.finish_model(graph, doc)


def projection_model(proj):
    from onnx import TensorProto, helper
    g = export_backbone.GraphBuilder()
    proj.onnx_nodes(g, "features")
    graph = helper.make_graph(
        g.nodes, "pca",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", 1280])],
        [helper.make_tensor_value_info("descriptors", TensorProto.FLOAT, ["N", proj.dim])],
        g.inits)
    return export_backbone.finish_model(graph, "PCA projection")


def extractor_model(size, proj, sd, convs=None):
    from onnx import TensorProto, helper
    g = export_backbone.GraphBuilder()
    x = export_backbone.add_preprocess(g, "pixels")
    x, _, _ = export_backbone.build_backbone(sd, g, x, size, convs=convs)
    feats = export_backbone.add_pool(g, x, "features")
    proj.onnx_nodes(g, feats)
    graph = helper.make_graph(
        g.nodes, f"extractor_lite0_{size}_pca{proj.dim}",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["N", size, size, 3])],
        [helper.make_tensor_value_info("descriptors", TensorProto.FLOAT, ["N", proj.dim])],
        g.inits)
    return export_backbone.finish_model(
        graph, f"EfficientNet-Lite0 (ImageNet{', last blocks fine-tuned on CIFAR-10' if convs else ''}) "
               f"backbone at {size}x{size} + PCA to {proj.dim} "
               f"({'whitened' if proj.whiten else 'globally scaled'}); input RGB 0..255 NHWC")


def extractor_on_backbone(path, proj):
    """The extractor at `path` (one of ours) with its PCA replaced by `proj`: the same
    backbone, another descriptor size."""
    import onnx
    from onnx import TensorProto, helper

    import cut_backbone
    source = onnx.load(path)
    nodes, inits, pixels, size = cut_backbone.backbone_graph(source)
    g = export_backbone.GraphBuilder()
    proj.onnx_nodes(g, "features")
    graph = helper.make_graph(
        list(nodes) + g.nodes, f"extractor_lite0_{size}_pca{proj.dim}", [pixels],
        [helper.make_tensor_value_info("descriptors", TensorProto.FLOAT, ["N", proj.dim])],
        list(inits) + g.inits)
    return export_backbone.finish_model(
        graph, f"the backbone of {os.path.basename(path)} ({source.doc_string.split(' + PCA')[0]}) "
               f"+ PCA to {proj.dim} ({'whitened' if proj.whiten else 'globally scaled'}); "
               f"input RGB 0..255 NHWC")


def ort_session(model_or_path, threads=1):
    import onnxruntime as ort
    o = ort.SessionOptions()
    o.intra_op_num_threads = threads
    o.inter_op_num_threads = 1
    src = model_or_path if isinstance(model_or_path, str) else model_or_path.SerializeToString()
    return ort.InferenceSession(src, o, providers=["CPUExecutionProvider"])


def time_head(sess, dim, n=2000):
    """microseconds per single-image call (batch 1) with onnxruntime, 1 thread."""
    x = np.random.default_rng(0).standard_normal((1, dim)).astype(np.float32)
    for _ in range(20):
        sess.run(None, {"descriptors": x})
    t = time.perf_counter()
    for _ in range(n):
        sess.run(None, {"descriptors": x})
    return (time.perf_counter() - t) / n * 1e6


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description="fit PCA + heads, export ONNX + manifest")
    ap.add_argument("--train", required=True, help="train feature dir")
    ap.add_argument("--test", required=True, help="test feature dir (reporting only)")
    ap.add_argument("--size", type=int, required=True,
                    help="input size S the features were computed at (extractor input SxS)")
    ap.add_argument("--pca-dim", type=int, default=DEFAULT_PCA_DIM)
    ap.add_argument("--whiten", action="store_true",
                    help="per-component PCA whitening (default: one global scale)")
    ap.add_argument("--no-flip-aug", action="store_true",
                    help="ignore features_flip.npy for training")
    ap.add_argument("--no-refit", action="store_true",
                    help="ship the heads fitted on the train part only")
    ap.add_argument("--out-dir", default=os.path.normpath(os.path.join(HERE, "..")),
                    help="where the .onnx files and manifest.json go (default: models/)")
    ap.add_argument("--report", default=os.path.join(HERE, "TRAINING.md"))
    ap.add_argument("--features-from", default="Rust feature tool (models/build README)",
                    help="provenance note on how the feature files were produced")
    ap.add_argument("--cache-dir", default=os.path.join(HERE, "out", "fit_cache"),
                    help="fitted heads are cached here so an interrupted run resumes "
                         "('' to disable)")
    ap.add_argument("--grid", choices=["quick", "default", "full"], default="default",
                    help="candidate grid (quick = smoke tests only)")
    ap.add_argument("--compare-dims", default="10,20,32,64,128,256",
                    help="descriptor sizes scored on validation for the report ('' to skip)")
    ap.add_argument("--backbone-from", default=None,
                    help="put the PCA on the backbone of this extractor (one of ours, e.g. the "
                         "shipped models/extractor.onnx, fine-tuned) instead of building it from "
                         "the weights; the features must come from that backbone "
                         "(cut_backbone.py)")
    ap.add_argument("--convs", default=None,
                    help="fine-tuned backbone convolutions (finetune.py --out); the features "
                         "must come from the backbone exported with them")
    a = ap.parse_args(argv)
    warnings.filterwarnings("ignore", category=UserWarning)
    t_start = time.time()

    Xtr_all, ytr_all, Xtr_flip = load_split(a.train)
    Xte, yte, _ = load_split(a.test)
    use_flip = Xtr_flip is not None and not a.no_flip_aug
    n_val = min(N_VAL, len(ytr_all) // 5)
    tr, va = split_val(ytr_all, n_val)
    print(f"train {len(tr)}  val {len(va)}  test {len(yte)}  flip-aug {use_flip}  "
          f"size {a.size}  pca {a.pca_dim}", flush=True)

    dim_rows = []
    if a.compare_dims:
        dims = [int(d) for d in a.compare_dims.split(",") if 0 < int(d) <= Xtr_all.shape[1]]
        dim_rows = descriptor_sizes(Xtr_all[tr], ytr_all[tr], Xtr_all[va], ytr_all[va], dims)
        for d, acc, ev in dim_rows:
            print(f"  descriptor {d:4d}: val {acc:.4f} (logistic regression), explained "
                  f"variance {ev:.3f}", flush=True)

    proj = Projection(a.pca_dim, whiten=a.whiten).fit(Xtr_all[tr])
    D_tr, D_va = proj.transform(Xtr_all[tr]), proj.transform(Xtr_all[va])
    y_tr, y_va = ytr_all[tr], ytr_all[va]
    D_tr_flip = proj.transform(Xtr_flip[tr]) if use_flip else None
    print(f"PCA {a.pca_dim}: explained variance {proj.explained:.3f}", flush=True)

    cache = FitCache(a.cache_dir, (
        [_file_key(os.path.join(a.train, n))
         for n in ("features.npy", "labels.npy", "features_flip.npy")],
        a.pca_dim, proj.whiten, use_flip, N_VAL, SEED, "heads-v2"))

    # --- candidates, scored on validation ---
    results = []  # (family, make, model, val_acc, seconds)
    for family, make in candidates(a.grid):
        t = time.time()
        desc = make().describe()
        mdl, cached = cache.get_or_fit(("val", desc), lambda: make().fit(D_tr, y_tr, D_tr_flip))
        acc = accuracy(mdl.predict_proba(D_va), y_va)
        secs = getattr(mdl, "fit_seconds", None) or time.time() - t
        mdl.fit_seconds = secs
        results.append((family, make, mdl, acc, secs))
        print(f"  {family:9s} val {acc:.4f}  {secs:6.1f}s{' (cached)' if cached else ''}  "
              f"{desc}", flush=True)

    chosen = {}
    for family in ("fast", "balanced", "accurate"):
        best = max((r for r in results if r[0] == family), key=lambda r: r[3])
        chosen[family] = best
    # --- refit on train+val ---
    final = {}
    for family, (fam, make, mdl, acc, _) in chosen.items():
        if a.no_refit:
            final[family] = mdl
            continue
        D_all = proj.transform(Xtr_all)
        D_all_flip = proj.transform(Xtr_flip) if use_flip else None
        t = time.time()
        final[family], cached = cache.get_or_fit(
            ("refit", mdl.describe()), lambda: make().fit(D_all, ytr_all, D_all_flip))
        print(f"  refit {family} on train+val in {time.time() - t:.1f}s"
              f"{' (cached)' if cached else ''}", flush=True)

    # --- export ---
    os.makedirs(a.out_dir, exist_ok=True)
    import onnx
    sd = export_backbone.load_state_dict(export_backbone.weights_path())
    convs = export_backbone.load_convs(a.convs, sd) if a.convs else None
    files = {}
    if a.backbone_from:
        import cut_backbone
        ext = extractor_on_backbone(a.backbone_from, proj)
        backbone = cut_backbone.cut(onnx.load(a.backbone_from))
    else:
        ext = extractor_model(a.size, proj, sd, convs)
        backbone = export_backbone.build_model(a.size, sd=sd, convs=convs)
    files["extractor"] = os.path.join(a.out_dir, "extractor.onnx")
    onnx.save(ext, files["extractor"])
    for family, mdl in final.items():
        m = head_model(mdl, a.pca_dim, family,
                       f"CIFAR-10 {family} head: {mdl.describe()}; descriptors -> probabilities")
        files[family] = os.path.join(a.out_dir, f"{family}.onnx")
        onnx.save(m, files[family])

    # --- verify the exported graphs against numpy, and report test accuracy ---
    proj_sess = ort_session(projection_model(proj))
    D_te = proj_sess.run(None, {"features": Xte})[0]
    assert np.abs(D_te - proj.transform(Xte)).max() < 1e-3 * max(1.0, np.abs(D_te).max())
    D_va_onnx = proj_sess.run(None, {"features": Xtr_all[va]})[0]
    test_acc, val_acc_onnx, head_us = {}, {}, {}
    for family, mdl in final.items():
        sess = ort_session(files[family])
        p_te = sess.run(None, {"descriptors": D_te})[0]
        diff = np.abs(p_te - mdl.predict_proba(D_te)).max()
        assert diff < 1e-4, f"{family}: onnx vs numpy probabilities differ by {diff}"
        assert np.allclose(p_te.sum(1), 1, atol=1e-4)
        test_acc[family] = accuracy(p_te, yte)
        val_acc_onnx[family] = accuracy(sess.run(None, {"descriptors": D_va_onnx})[0], y_va)
        head_us[family] = time_head(sess, a.pca_dim)
    ext_sess = ort_session(files["extractor"])
    rng = np.random.default_rng(SEED)
    px = rng.uniform(0, 255, (2, a.size, a.size, 3)).astype(np.float32)
    bb = ort_session(backbone)
    want = proj.transform(bb.run(None, {"pixels": px})[0])
    got = ext_sess.run(None, {"pixels": px})[0]
    assert np.abs(got - want).max() < 1e-2, "extractor != backbone + projection"
    ext_ms = float(np.mean([_t(ext_sess, px[:1]) for _ in range(5)]))

    # --- manifest ---
    prov_w = export_backbone.weights_provenance()
    from importlib.metadata import version as pkg_version
    env = {p: pkg_version(p) for p in ("numpy", "scikit-learn", "onnx", "onnxruntime")}
    data_prov = {
        "dataset": "CIFAR-10",
        "train_features": os.path.abspath(a.train),
        "n_train_split": int(len(ytr_all)),
        "validation": f"stratified hold-out of {len(va)} train images, seed {SEED}",
        "flip_augmentation": bool(use_flip),
        "refit_on_train_plus_validation": not a.no_refit,
        "features_from": a.features_from,
        "test_split_used_for_selection": False,
    }
    common_head = {"descriptor_dim": a.pca_dim, "classes": CLASSES,
                   "input": {"name": "descriptors", "dtype": "float32", "shape": ["N", a.pca_dim]},
                   "output": {"name": "probabilities", "dtype": "float32",
                              "shape": ["N", len(CLASSES)], "softmax": True}}
    kind_tag = {"fast": "lr", "balanced": "mlp", "accurate": "mlpens"}
    models = [{
        "name": "extractor",
        "role": "extractor",
        "version": f"extractor-lite0{'ft' if convs or a.backbone_from else ''}-s{a.size}-pca{a.pca_dim}-{MODEL_VERSION}",
        "file": "extractor.onnx",
        "sha256": sha256(files["extractor"]),
        "bytes": os.path.getsize(files["extractor"]),
        "input_size": a.size,
        "descriptor_dim": a.pca_dim,
        "classes": CLASSES,
        "input": {"name": "pixels", "dtype": "float32", "shape": ["N", a.size, a.size, 3],
                  "layout": "NHWC", "color": "RGB", "range": [0, 255],
                  "resize": "whole image resized to SxS (no crop); normalization is in the graph"},
        "output": {"name": "descriptors", "dtype": "float32", "shape": ["N", a.pca_dim]},
        "provenance": {"weights": prov_w, "pca": {"dim": a.pca_dim, "whiten": proj.whiten,
                                                  "explained_variance": round(proj.explained, 4),
                                                  "fitted_on": "train part (validation excluded)",
                                                  "solver": "full SVD"},
                       "fine_tuning": fine_tuning_provenance(a.convs),
                       "backbone_from": backbone_provenance(a.backbone_from),
                       "data": data_prov, "environment": env},
    }]
    for family, mdl in final.items():
        models.append({
            "name": family,
            "role": "classifier",
            "version": f"{family}-{kind_tag[family]}-d{a.pca_dim}-s{a.size}-{MODEL_VERSION}",
            "file": f"{family}.onnx",
            "sha256": sha256(files[family]),
            "bytes": os.path.getsize(files[family]),
            **common_head,
            "parameters": int(mdl.n_params()),
            "validation_accuracy": round(chosen[family][3], 4),
            "test_accuracy": round(test_acc[family], 4),
            "provenance": {"head": mdl.params(), "description": mdl.describe(),
                           "extractor_version": models[0]["version"],
                           "data": data_prov, "seed": SEED, "environment": env},
        })
    manifest = {"schema": 1, "classes": CLASSES, "descriptor_dim": a.pca_dim,
                "input_size": a.size, "models": models}
    with open(os.path.join(a.out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")

    # --- report ---
    total_mb = sum(os.path.getsize(p) for p in files.values()) / 1e6
    write_report(a, proj, results, chosen, final, test_acc, val_acc_onnx, head_us, ext_ms,
                 files, total_mb, len(tr), len(va), len(yte), use_flip, time.time() - t_start,
                 dim_rows)
    print("\nvalidation / test accuracy (test for information only):")
    for family in final:
        print(f"  {family:9s} val {chosen[family][3]:.4f}   test {test_acc[family]:.4f}   "
              f"head {head_us[family]:.0f} us/img")
    print(f"extractor {ext_ms:.1f} ms/img (onnxruntime, 1 thread); shipped ONNX {total_mb:.1f} MB")


def backbone_provenance(path):
    """The extractor whose backbone was reused (None: built from the weights here)."""
    if not path:
        return None
    return {"file": os.path.basename(path), "sha256": sha256(path)}


def fine_tuning_provenance(convs_path):
    """What finetune.py recorded beside its output (None: ImageNet weights unchanged)."""
    if not convs_path:
        return None
    record = {"file": os.path.basename(convs_path), "sha256": sha256(convs_path)}
    side = os.path.splitext(convs_path)[0] + ".json"
    if os.path.exists(side):
        with open(side) as f:
            record.update(json.load(f))
    return record


def _t(sess, x):
    t = time.perf_counter()
    sess.run(None, {"pixels": x})
    return (time.perf_counter() - t) * 1000


def write_report(a, proj, results, chosen, final, test_acc, val_acc_onnx, head_us, ext_ms,
                 files, total_mb, n_tr, n_va, n_te, use_flip, secs, dim_rows=()):
    L = ["# Training of the shipped heads\n",
         f"Written by `train_heads.py` on {datetime.date.today().isoformat()}.\n",
         f"- Features: input size {a.size}, from `{a.train}` ({a.features_from}).",
         f"- Split: {n_tr} train / {n_va} validation (stratified, seed {SEED}) from the CIFAR-10 "
         f"train split; {n_te} test images used only for the final report.",
         f"- PCA: {a.pca_dim} dims, {'whitened' if proj.whiten else 'one global scale (unit mean variance)'}, fitted on the train part; "
         f"explained variance {proj.explained:.3f}.",
         f"- Flip augmentation: {use_flip} (logistic regression: mirrored images as extra rows; "
         f"MLPs: each epoch every row is the original or the mirrored image with p=1/2).",
         f"- Refit of the chosen heads on train+validation: {not a.no_refit}.\n",
    ]
    if dim_rows:
        L += ["## Descriptor size (validation accuracy of logistic regression C=0.01, no flip rows)\n",
              "| dims | val acc | explained variance | descriptor bytes (float32) |",
              "|---|---|---|---|"]
        L += [f"| {d}{' **(shipped)**' if d == a.pca_dim else ''} | {acc:.4f} | {ev:.3f} | {4 * d} |"
              for d, acc, ev in dim_rows]
        L.append("")
    L += [
         "## Candidates (validation accuracy; the best of each family is shipped)\n",
         "| family | candidate | params | val acc | fit s |", "|---|---|---|---|---|"]
    for family, _, mdl, acc, secs_fit in results:
        mark = " **(chosen)**" if chosen[family][2] is mdl else ""
        L.append(f"| {family} | {mdl.describe()}{mark} | {mdl.n_params():,} | {acc:.4f} | "
                 f"{secs_fit:.0f} |")
    L += ["\n## Shipped models\n",
          "| model | file | val acc (before refit) | test acc (information only) | "
          "time per image (onnxruntime, 1 thread, batch 1) |", "|---|---|---|---|---|",
          f"| extractor | extractor.onnx ({os.path.getsize(files['extractor']) / 1e6:.1f} MB) | "
          f"- | - | {ext_ms:.1f} ms |"]
    for family, mdl in final.items():
        L.append(f"| {family} | {family}.onnx ({os.path.getsize(files[family]) / 1e3:.0f} kB) | "
                 f"{chosen[family][3]:.4f} | {test_acc[family]:.4f} | {head_us[family]:.0f} us |")
    L += [f"\nAll shipped ONNX files: {total_mb:.1f} MB. Run time of train_heads.py: "
          f"{secs / 60:.1f} min.\n",
          "Validation accuracy is that of the head fitted on the train part; the shipped head "
          "is refitted on train+validation with the same hyperparameters (unless --no-refit). "
          "Test accuracy is computed with onnxruntime from the exported graphs on the test "
          "features and was not used for any choice.\n"]
    with open(a.report, "w") as f:
        f.write("\n".join(L))
    print("wrote", a.report)


if __name__ == "__main__":
    main()
