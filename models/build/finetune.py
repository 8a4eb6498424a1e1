#!/usr/bin/env python3
"""Fine-tune the backbone's last blocks on CIFAR-10 (JAX, CPU), from cached activations.

Frozen ImageNet features saturate near 82% on CIFAR-10 whatever head sits on them
(EXPLORATION.md). Training the last blocks adapts the features to these images; the early
blocks stay frozen, so their output for every training image is computed once, by the Rust
feature tool on a graph cut after block --cut (`export_backbone.py --cut`), and the blocks
after it are trained here on those cached activations, mirrored images included.

Inputs (one directory written by `vision-models featurize --flip` on the cut graph):
  features.npy       float32 [n, side*side*C]  block --cut output, NHWC flattened
  features_flip.npy  float32 [n, side*side*C]  the same images mirrored
  labels.npy         int64   [n]
Procedure (deterministic, seed 0): the validation hold-out of train_heads.py (5,000 images,
stratified, seed 0) is excluded from training and scored after every epoch; the blocks after
the cut and the head conv start from the ImageNet weights (batch norm folded), a new linear
layer on the pooled 1280 features is trained with them (AdamW, warm-up + cosine, label
smoothing, dropout; every image is the original or its mirror with p=1/2).
Output: --out NPZ (+ the same name .json: parameters and history) with every folded convolution of the backbone (the trained ones replaced),
read by `export_backbone.py --convs` and `train_heads.py --convs`; --report FILE (markdown).
The linear layer trained here is not shipped: the heads are fitted on the new features by
train_heads.py, as before.

Usage: finetune.py --train DIR --size 160 --cut 10 --out out/finetuned_160.npz
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import export_backbone  # noqa: E402
# The heads' validation hold-out, so that fine-tuning never trains on it.
from train_heads import N_VAL, SEED, split_val  # noqa: E402


class Tail:
    """The backbone after block `cut`, as a JAX function of NHWC activations.

    Parameters are held in NHWC-friendly layouts (1x1 convs as [in, out] matrices, depthwise
    kernels as [k, k, C]) and converted back to the ONNX layout by `to_convs`."""

    def __init__(self, sd, cut: int):
        self.plan = export_backbone.block_plan(sd)[cut + 1:]
        self.cut = cut
        convs = export_backbone.folded_convs(sd)
        self.base = convs
        self.params = {}
        for p, _k, _s, expand, _i, _o in self.plan:
            if expand:
                self._dense(p + "_expand_conv")
            w, b = convs[p + "_depthwise_conv"]
            self.params[p + "_depthwise_conv"] = {"w": w[:, 0].transpose(1, 2, 0).copy(), "b": b}
            self._dense(p + "_project_conv")
        self._dense("_conv_head")
        self.params["fc"] = {"w": np.zeros((export_backbone.HEAD_FILTERS, 10), np.float32),
                             "b": np.zeros(10, np.float32)}

    def _dense(self, name):
        w, b = self.base[name]
        self.params[name] = {"w": w[:, :, 0, 0].T.copy(), "b": b}

    def forward(self, params, x, *, dropout=0.0, key=None):
        """x [N,H,W,C] -> (logits [N,10], pooled features [N,1280])."""
        import jax
        import jax.numpy as jnp

        def relu6(v):
            return jnp.clip(v, 0.0, 6.0)

        for p, k, s, expand, i_f, cout in self.plan:
            inp = x
            if expand:
                q = params[p + "_expand_conv"]
                x = relu6(x @ q["w"] + q["b"])
            q = params[p + "_depthwise_conv"]
            x = relu6(depthwise(x, q["w"], s) + q["b"])
            q = params[p + "_project_conv"]
            x = x @ q["w"] + q["b"]
            if s == 1 and i_f == cout:
                x = x + inp
        q = params["_conv_head"]
        x = relu6(x @ q["w"] + q["b"])
        f = x.mean(axis=(1, 2))
        h = f
        if dropout > 0:
            keep = jax.random.bernoulli(key, 1.0 - dropout, h.shape)
            h = jnp.where(keep, h / (1.0 - dropout), 0.0)
        return h @ params["fc"]["w"] + params["fc"]["b"], f

    def to_convs(self, params):
        """Every folded convolution of the backbone, with the trained ones replaced."""
        out = type(self.base)(self.base)
        for name, q in params.items():
            if name == "fc":
                continue
            w, b = np.asarray(q["w"], np.float32), np.asarray(q["b"], np.float32)
            if name.endswith("_depthwise_conv"):
                w = w.transpose(2, 0, 1)[:, None]
            else:
                w = w.T[:, :, None, None]
            assert w.shape == self.base[name][0].shape, name
            out[name] = (np.ascontiguousarray(w), b)
        return out


def depthwise(x, w, stride):
    """Depthwise convolution with TF "SAME" padding, as k*k shifted multiply-adds: on CPU,
    XLA's grouped convolution (and its gradient) is ~7x slower than this."""
    import jax.numpy as jnp
    k, side = w.shape[0], x.shape[1]
    before, after, out = export_backbone.same_pads(side, k, stride)
    xp = jnp.pad(x, ((0, 0), (before, after), (before, after), (0, 0)))
    span = (out - 1) * stride + 1
    acc = None
    for i in range(k):
        for j in range(k):
            term = xp[:, i:i + span:stride, j:j + span:stride, :] * w[i, j]
            acc = term if acc is None else acc + term
    return acc


def load_activations(d: str, side_channels):
    """features(.flip).npy as float16 [n, side, side, C] (half the memory of float32)."""
    def read(name):
        m = np.load(os.path.join(d, name), mmap_mode="r")
        side, c = side_channels
        if m.ndim != 2 or m.shape[1] != side * side * c:
            raise SystemExit(f"{d}/{name}: expected [n, {side * side * c}] (block output "
                             f"{side}x{side}x{c}), got {m.shape}")
        out = np.empty((m.shape[0], side, side, c), np.float16)
        for i in range(0, m.shape[0], 4096):
            out[i:i + 4096] = np.asarray(m[i:i + 4096]).reshape(-1, side, side, c)
        return out
    y = np.load(os.path.join(d, "labels.npy")).astype(np.int64)
    X = read("features.npy")
    Xf = read("features_flip.npy")
    if len(X) != len(y) or len(Xf) != len(y):
        raise SystemExit(f"{d}: features, mirrored features and labels differ in length")
    return X, Xf, y


def cut_shape(size: int, cut: int, sd):
    """(side, channels) of block `cut`'s output for input size `size`."""
    side = -(-size // 2)  # stem
    for i, (_p, _k, s, _e, _i, cout) in enumerate(export_backbone.block_plan(sd)):
        side = -(-side // s)
        if i == cut:
            return side, cout
    raise ValueError(f"no block {cut}")


def train(tail: Tail, X, Xf, y, tr, va, a, log=print):
    import jax
    import jax.numpy as jnp

    params = jax.tree_util.tree_map(jnp.asarray, tail.params)
    steps_per_epoch = len(tr) // a.batch
    total = steps_per_epoch * a.epochs
    warm = max(1, steps_per_epoch // 2)

    def lr_at(t):
        frac = jnp.minimum(t / total, 1.0)
        return a.lr * jnp.minimum(1.0, (t + 1) / warm) * 0.5 * (1 + jnp.cos(jnp.pi * frac))

    # the new linear layer learns at --lr, the pretrained blocks at --lr * --tail-lr
    scale = {k: jax.tree_util.tree_map(lambda _: 1.0 if k == "fc" else a.tail_lr, v)
             for k, v in params.items()}

    def loss_fn(p, xb, yb, key):
        logits, _ = tail.forward(p, xb, dropout=a.dropout, key=key)
        target = jax.nn.one_hot(yb, 10) * (1 - a.label_smoothing) + a.label_smoothing / 10
        return -(target * jax.nn.log_softmax(logits)).sum(-1).mean()

    @jax.jit
    def step(p, m, v, xb, yb, key, t):
        loss, g = jax.value_and_grad(loss_fn)(p, xb, yb, key)
        lr = lr_at(t)
        m = jax.tree_util.tree_map(lambda m, g: 0.9 * m + 0.1 * g, m, g)
        v = jax.tree_util.tree_map(lambda v, g: 0.999 * v + 0.001 * g * g, v, g)
        c1, c2 = 1 - 0.9 ** (t + 1), 1 - 0.999 ** (t + 1)
        p = jax.tree_util.tree_map(
            lambda p, m, v, s: p - lr * s * (m / c1 / (jnp.sqrt(v / c2) + 1e-8) + a.weight_decay * p),
            p, m, v, scale)
        return p, m, v, loss

    @jax.jit
    def probabilities(p, xb):
        return jax.nn.softmax(tail.forward(p, xb)[0])

    def predict(p, XX, ids):
        return np.concatenate([np.asarray(probabilities(p, jnp.asarray(XX[ids[i:i + 500]],
                                                                       jnp.float32)))
                               for i in range(0, len(ids), 500)])

    m = jax.tree_util.tree_map(jnp.zeros_like, params)
    v = jax.tree_util.tree_map(jnp.zeros_like, params)
    rng = np.random.default_rng(SEED)
    key = jax.random.PRNGKey(SEED)
    history, t = [], 0
    for epoch in range(a.epochs):
        started = time.time()
        perm = rng.permutation(tr)
        mirrored = rng.random(len(perm)) < 0.5
        losses = []
        for i in range(steps_per_epoch):
            b = perm[i * a.batch:(i + 1) * a.batch]
            fl = mirrored[i * a.batch:(i + 1) * a.batch]
            xb = np.where(fl[:, None, None, None], Xf[b], X[b]).astype(np.float32)
            key, sub = jax.random.split(key)
            params, m, v, loss = step(params, m, v, jnp.asarray(xb), jnp.asarray(y[b]), sub, t)
            t += 1
            if i % 50 == 0:
                losses.append(float(loss))
        val = float((predict(params, X, va).argmax(1) == y[va]).mean()) if len(va) else float("nan")
        history.append({"epoch": epoch + 1, "loss": float(np.mean(losses)), "val_acc": val,
                        "seconds": time.time() - started})
        log(f"epoch {epoch + 1}/{a.epochs}: loss {np.mean(losses):.3f}  val {val:.4f}  "
            f"{time.time() - started:.0f}s")
    return params, history


def jax_version():
    import jax
    return jax.__version__


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train", required=True, help="cut-graph features of the train split")
    ap.add_argument("--size", type=int, required=True)
    ap.add_argument("--cut", type=int, required=True, help="block the activations come from")
    ap.add_argument("--out", required=True, help="folded convolutions (.npz)")
    ap.add_argument("--report", default=os.path.join(HERE, "FINETUNING.md"))
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (linear layer)")
    ap.add_argument("--tail-lr", type=float, default=0.1,
                    help="learning-rate multiplier of the pretrained blocks")
    ap.add_argument("--weight-decay", type=float, default=1e-4)
    ap.add_argument("--dropout", type=float, default=0.3)
    ap.add_argument("--label-smoothing", type=float, default=0.1)
    ap.add_argument("--limit", type=int, default=0, help="train on the first N rows (smoke tests)")
    a = ap.parse_args(argv)
    started = time.time()

    sd = export_backbone.load_state_dict(export_backbone.weights_path())
    X, Xf, y = load_activations(a.train, cut_shape(a.size, a.cut, sd))
    n_val = min(N_VAL, len(y) // 5)
    tr, va = split_val(y, n_val)
    if a.limit:
        tr = tr[:a.limit]
    print(f"fine-tuning blocks {a.cut + 1}.. + head conv on {len(tr)} images "
          f"(validation {len(va)}), activations {X.shape[1:]}", flush=True)
    tail = Tail(sd, a.cut)
    params, history = train(tail, X, Xf, y, tr, va, a, log=lambda s: print(s, flush=True))
    convs = tail.to_convs(params)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    export_backbone.save_convs(a.out, convs)
    with open(os.path.splitext(a.out)[0] + ".json", "w") as f:  # provenance for the manifest
        json.dump({"cut_after_block": a.cut, "input_size": a.size, "train_images": len(tr),
                   "validation_images": len(va), "seed": SEED,
                   "hyperparameters": {k: getattr(a, k) for k in (
                       "epochs", "batch", "lr", "tail_lr", "weight_decay", "dropout",
                       "label_smoothing")},
                   "validation_accuracy_by_epoch": [round(h["val_acc"], 4) for h in history],
                   "environment": {"jax": jax_version()}}, f, indent=2)
    write_report(a, history, len(tr), len(va), time.time() - started)
    print(f"wrote {a.out} and {a.report}")


def write_report(a, history, n_tr, n_va, seconds):
    L = ["# Fine-tuning of the backbone's last blocks\n",
         f"Written by `finetune.py` on {datetime.date.today().isoformat()}.\n",
         f"- Activations: output of block {a.cut} at input size {a.size}, from `{a.train}` "
         "(Rust feature tool on `export_backbone.py --cut`).",
         f"- Trained: blocks {a.cut + 1}.. and the head conv (from the ImageNet weights, batch "
         "norm folded) + a linear layer (not shipped).",
         f"- Split: {n_tr} train / {n_va} validation (stratified, seed {SEED}; the validation "
         "images are train_heads.py's). The test split is not read.",
         f"- AdamW: peak lr {a.lr} (blocks x{a.tail_lr}), weight decay {a.weight_decay}, "
         f"batch {a.batch}, {a.epochs} epochs, warm-up half an epoch then cosine; dropout "
         f"{a.dropout}, label smoothing {a.label_smoothing}; each image original or mirrored "
         "with p=1/2.\n",
         "| epoch | train loss | val acc (linear layer) | s |", "|---|---|---|---|"]
    for h in history:
        L.append(f"| {h['epoch']} | {h['loss']:.3f} | {h['val_acc']:.4f} | {h['seconds']:.0f} |")
    L.append(f"\nRun time: {seconds / 60:.1f} min.\n")
    with open(a.report, "w") as f:
        f.write("\n".join(L))


if __name__ == "__main__":
    main()
