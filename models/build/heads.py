"""Classifier heads on descriptors (numpy/scikit-learn) and their ONNX export.

- `LogReg`: multinomial logistic regression (scikit-learn lbfgs).
- `MLP`: small numpy multilayer perceptron (ReLU, dropout, AdamW, cosine schedule),
  deterministic for a given seed.
- `Ensemble`: average of the probabilities of several models.
All expose `predict_proba(X)` and `onnx_nodes(g, x)`, which appends MatMul/Add/Relu/Softmax
nodes (standard ONNX only, no ai.onnx.ml) computing the probabilities.
"""
from __future__ import annotations

import numpy as np

from export_backbone import GraphBuilder


def softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _dense_nodes(g: GraphBuilder, x: str, layers, prefix: str) -> str:
    """layers: [(W [in,out], b [out])]; ReLU between layers; returns the logits name."""
    for i, (W, b) in enumerate(layers):
        w = g.const(f"{prefix}.w{i}", W.astype(np.float32))
        bb = g.const(f"{prefix}.b{i}", b.astype(np.float32))
        x = g.node("MatMul", [x, w], f"{prefix}.matmul{i}")
        x = g.node("Add", [x, bb], f"{prefix}.add{i}")
        if i < len(layers) - 1:
            x = g.node("Relu", [x], f"{prefix}.relu{i}")
    return x


class LogReg:
    kind = "lr"

    def __init__(self, C=1.0, seed=0):
        self.C = C
        self.seed = seed

    def fit(self, X, y, X_alt=None):
        """X_alt: optional alternative view of the same rows (mirrored images), used as
        extra training rows."""
        from sklearn.linear_model import LogisticRegression
        if X_alt is not None:
            X, y = np.concatenate([X, X_alt]), np.concatenate([y, y])
        # standardize each input (so C means the same whatever the descriptor scaling),
        # then fold the standardization into the exported weights
        X = X.astype(np.float64)
        mu, sd = X.mean(0), X.std(0) + 1e-12
        clf = LogisticRegression(C=self.C, max_iter=1000, tol=1e-4, random_state=self.seed)
        clf.fit((X - mu) / sd, y)
        coef = clf.coef_.T / sd[:, None]
        self.W = coef
        self.b = clf.intercept_ - mu @ coef
        return self

    def layers(self):
        return [(self.W, self.b)]

    def logits(self, X):
        return X @ self.W + self.b

    def predict_proba(self, X):
        return softmax(self.logits(X))

    def n_params(self):
        return self.W.size + self.b.size

    def describe(self):
        return f"logistic regression C={self.C}"

    def params(self):
        return {"type": "multinomial_logistic_regression", "C": self.C, "solver": "lbfgs",
                "inputs": "standardized (folded into the weights)"}

    def onnx_nodes(self, g, x, prefix="lr"):
        return g.node("Softmax", [_dense_nodes(g, x, self.layers(), prefix)], f"{prefix}.softmax",
                      axis=1)


class MLP:
    kind = "mlp"

    def __init__(self, hidden=(512,), dropout=0.2, weight_decay=1e-4, lr=1e-3, epochs=40,
                 batch=256, seed=0, label_smoothing=0.0):
        self.hidden = tuple(hidden)
        self.dropout = dropout
        self.weight_decay = weight_decay
        self.lr = lr
        self.epochs = epochs
        self.batch = batch
        self.seed = seed
        self.label_smoothing = label_smoothing

    def fit(self, X, y, X_alt=None):
        """X_alt: optional alternative view of the same rows (mirrored images); each epoch
        every row is taken from X or X_alt with probability 1/2 (augmentation at no cost)."""
        rng = np.random.default_rng(self.seed)
        X = X.astype(np.float32)
        if X_alt is not None:
            X_alt = X_alt.astype(np.float32)
        n, d = X.shape
        k = int(y.max()) + 1
        sizes = [d, *self.hidden, k]
        self.Ws = [(rng.standard_normal((a, b)) * np.sqrt(2.0 / a)).astype(np.float32)
                   for a, b in zip(sizes[:-1], sizes[1:])]
        self.bs = [np.zeros(b, np.float32) for b in sizes[1:]]
        params = self.Ws + self.bs
        m = [np.zeros_like(p) for p in params]
        v = [np.zeros_like(p) for p in params]
        b1, b2, eps = 0.9, 0.999, 1e-8
        Y = np.full((n, k), self.label_smoothing / k, np.float32)
        Y[np.arange(n), y] += 1.0 - self.label_smoothing
        steps_per_epoch = -(-n // self.batch)
        total = steps_per_epoch * self.epochs
        t = 0
        for ep in range(self.epochs):
            perm = rng.permutation(n)
            use_alt = rng.random(n) < 0.5 if X_alt is not None else None
            for s in range(steps_per_epoch):
                idx = perm[s * self.batch:(s + 1) * self.batch]
                xb, yb = X[idx], Y[idx]
                if use_alt is not None:
                    alt = use_alt[idx]
                    xb[alt] = X_alt[idx[alt]]
                # forward
                acts, masks = [xb], []
                h = xb
                for i in range(len(self.Ws) - 1):
                    h = np.maximum(h @ self.Ws[i] + self.bs[i], 0)
                    if self.dropout > 0:
                        mk = (rng.random(h.shape, dtype=np.float32) >= self.dropout)
                        mk = mk.astype(np.float32) / (1 - self.dropout)
                        h = h * mk
                        masks.append(mk)
                    else:
                        masks.append(None)
                    acts.append(h)
                p = softmax(h @ self.Ws[-1] + self.bs[-1])
                # backward
                gz = (p - yb) / len(idx)
                gW, gb = [None] * len(self.Ws), [None] * len(self.Ws)
                for i in range(len(self.Ws) - 1, -1, -1):
                    gW[i] = acts[i].T @ gz
                    gb[i] = gz.sum(0)
                    if i > 0:
                        gz = gz @ self.Ws[i].T
                        gz = gz * (acts[i] > 0)
                        if masks[i - 1] is not None:
                            gz = gz * masks[i - 1]
                # AdamW with cosine learning rate
                t += 1
                lr = self.lr * 0.5 * (1 + np.cos(np.pi * (t - 1) / total))
                grads = gW + gb
                for j, (prm, gr) in enumerate(zip(params, grads)):
                    m[j] = b1 * m[j] + (1 - b1) * gr
                    v[j] = b2 * v[j] + (1 - b2) * gr * gr
                    mh = m[j] / (1 - b1 ** t)
                    vh = v[j] / (1 - b2 ** t)
                    if j < len(self.Ws):  # decay weights, not biases
                        prm -= lr * self.weight_decay * prm
                    prm -= (lr * mh / (np.sqrt(vh) + eps)).astype(np.float32)
        return self

    def layers(self):
        return list(zip(self.Ws, self.bs))

    def logits(self, X):
        h = X.astype(np.float32)
        for i in range(len(self.Ws) - 1):
            h = np.maximum(h @ self.Ws[i] + self.bs[i], 0)
        return h @ self.Ws[-1] + self.bs[-1]

    def predict_proba(self, X):
        return softmax(self.logits(X).astype(np.float64))

    def n_params(self):
        return sum(w.size + b.size for w, b in self.layers())

    def describe(self):
        return (f"MLP hidden={list(self.hidden)} dropout={self.dropout} wd={self.weight_decay} "
                f"lr={self.lr} epochs={self.epochs}" +
                (f" ls={self.label_smoothing}" if self.label_smoothing else ""))

    def params(self):
        return {"type": "mlp", "hidden": list(self.hidden), "activation": "relu",
                "dropout": self.dropout, "weight_decay": self.weight_decay, "optimizer": "adamw",
                "lr": self.lr, "schedule": "cosine", "epochs": self.epochs, "batch": self.batch,
                "label_smoothing": self.label_smoothing, "seed": self.seed}

    def onnx_nodes(self, g, x, prefix="mlp"):
        return g.node("Softmax", [_dense_nodes(g, x, self.layers(), prefix)], f"{prefix}.softmax",
                      axis=1)


class Ensemble:
    kind = "ens"

    def __init__(self, members):
        self.members = members

    def fit(self, X, y, X_alt=None):
        for mdl in self.members:
            mdl.fit(X, y, X_alt)
        return self

    def predict_proba(self, X):
        return sum(mdl.predict_proba(X) for mdl in self.members) / len(self.members)

    def n_params(self):
        return sum(mdl.n_params() for mdl in self.members)

    def describe(self):
        return f"ensemble of {len(self.members)} x [{self.members[0].describe()}] (seeds " \
               f"{[getattr(mdl, 'seed', None) for mdl in self.members]})"

    def params(self):
        return {"type": "ensemble_mean_probability",
                "members": [mdl.params() for mdl in self.members]}

    def onnx_nodes(self, g, x, prefix="ens"):
        outs = [mdl.onnx_nodes(g, x, f"{prefix}.m{i}") for i, mdl in enumerate(self.members)]
        s = g.node("Sum", outs, f"{prefix}.sum")
        g.const(f"{prefix}.inv_k", np.array(1.0 / len(self.members), np.float32))
        return g.node("Mul", [s, f"{prefix}.inv_k"], f"{prefix}.mean")
