#!/usr/bin/env python3
"""The backbone of an extractor this project exported: its graph up to the PCA.

An extractor (train_heads.py) is `pixels` -> backbone -> `features` [N,1280] -> Sub(pca.mean)
-> MatMul(pca.proj) -> `descriptors`. Cutting at `features` gives the backbone back, exactly as
shipped (fine-tuned weights included), so other descriptor sizes can be fitted on its features
without the fine-tuning run that made it (its weights are not in the repository):

  cut_backbone.py --extractor models/extractor.onnx --out models/build/out/backbone_shipped.onnx

`backbone_graph(model)` is what train_heads.py --backbone-from uses to put a new PCA on it.
"""
from __future__ import annotations

import argparse
import sys

import onnx
from onnx import TensorProto, helper

PCA_NODES = ("pca.center", "descriptors")
PCA_CONSTS = ("pca.mean", "pca.proj")


def backbone_graph(model: onnx.ModelProto):
    """(nodes, initializers, input value info, side) of the extractor's graph before its PCA."""
    g = model.graph
    names = {n.output[0] for n in g.node}
    if not all(p in names for p in PCA_NODES) or "features" not in names:
        raise SystemExit("not an extractor of train_heads.py: no features -> pca.center -> "
                         "descriptors")
    nodes = [n for n in g.node if n.output[0] not in PCA_NODES]
    inits = [i for i in g.initializer if i.name not in PCA_CONSTS]
    (pixels,) = list(g.input)
    side = pixels.type.tensor_type.shape.dim[1].dim_value
    return nodes, inits, pixels, side


def cut(model: onnx.ModelProto) -> onnx.ModelProto:
    nodes, inits, pixels, side = backbone_graph(model)
    graph = helper.make_graph(
        nodes, f"backbone_{side}", [pixels],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", 1280])], inits)
    out = helper.make_model(graph, opset_imports=list(model.opset_import),
                            producer_name="vision-platform models/build cut_backbone.py")
    out.ir_version = model.ir_version
    out.doc_string = f"backbone of: {model.doc_string}"
    onnx.checker.check_model(out, full_check=True)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--extractor", default="models/extractor.onnx")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    onnx.save(cut(onnx.load(a.extractor)), a.out)
    print(f"{a.out}: backbone of {a.extractor}")


if __name__ == "__main__":
    sys.exit(main())
