"""pytest: train_heads.py end to end on small synthetic features (grid "quick")."""
import json
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import train_heads  # noqa: E402


def _write_split(d, n, rng, centers, flip=False):
    os.makedirs(d, exist_ok=True)
    y = np.arange(n) % 10
    X = np.maximum(centers[y] + rng.normal(0, 1.0, (n, 1280)), 0).astype(np.float32)
    np.save(os.path.join(d, "features.npy"), X)
    np.save(os.path.join(d, "labels.npy"), y.astype(np.int64))
    if flip:
        Xf = np.maximum(X + rng.normal(0, 0.1, X.shape), 0).astype(np.float32)
        np.save(os.path.join(d, "features_flip.npy"), Xf)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("heads")
    rng = np.random.default_rng(0)
    centers = rng.uniform(0, 2, (10, 1280))
    _write_split(tmp / "train", 600, rng, centers, flip=True)
    _write_split(tmp / "test", 200, rng, centers)
    out = tmp / "models"
    train_heads.main(["--train", str(tmp / "train"), "--test", str(tmp / "test"), "--size", "64",
                      "--pca-dim", "16", "--grid", "quick", "--out-dir", str(out),
                      "--report", str(tmp / "TRAINING.md"), "--cache-dir", ""])
    return tmp, out


def test_outputs_and_manifest(trained):
    tmp, out = trained
    manifest = json.loads((out / "manifest.json").read_text())
    names = [m["name"] for m in manifest["models"]]
    assert names == ["extractor", "fast", "balanced", "accurate"]
    for m in manifest["models"]:
        p = out / m["file"]
        assert p.exists()
        assert m["sha256"] == train_heads.sha256(str(p))
        assert m["descriptor_dim"] == 16
        assert len(m["classes"]) == 10
    assert manifest["models"][0]["input_size"] == 64
    acc = {m["name"]: m["validation_accuracy"] for m in manifest["models"][1:]}
    assert acc["fast"] > 0.9  # well separated synthetic classes
    assert acc["balanced"] > 0.3 and acc["accurate"] > 0.3  # tiny MLPs, few steps: > chance
    assert (tmp / "TRAINING.md").exists()


def test_head_graphs_are_plain_onnx(trained):
    import onnx
    import onnxruntime as ort
    _, out = trained
    allowed = {"MatMul", "Add", "Relu", "Softmax", "Sum", "Mul", "Identity"}
    for name in ("fast", "balanced", "accurate"):
        m = onnx.load(str(out / f"{name}.onnx"))
        assert {n.op_type for n in m.graph.node} <= allowed
        assert all(o.domain in ("", "ai.onnx") for o in m.opset_import)
        s = ort.InferenceSession(str(out / f"{name}.onnx"), providers=["CPUExecutionProvider"])
        (p,) = s.run(None, {"descriptors": np.zeros((3, 16), np.float32)})
        assert p.shape == (3, 10) and np.allclose(p.sum(1), 1, atol=1e-5)


def test_extractor_runs_in_tract(trained):
    tract = pytest.importorskip("tract")
    _, out = trained
    x = np.random.default_rng(2).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
    import onnxruntime as ort
    ref = ort.InferenceSession(str(out / "extractor.onnx"),
                               providers=["CPUExecutionProvider"]).run(None, {"pixels": x})[0]
    got = tract.onnx().load(str(out / "extractor.onnx")).into_model().into_runnable() \
        .run([x])[0].to_numpy()
    assert got.shape == (2, 16)
    assert np.abs(got - ref).max() < 1e-2
    for name in ("fast", "balanced", "accurate"):
        d = np.random.default_rng(3).standard_normal((4, 16)).astype(np.float32)
        r = ort.InferenceSession(str(out / f"{name}.onnx"),
                                 providers=["CPUExecutionProvider"]).run(None, {"descriptors": d})[0]
        t = tract.onnx().load(str(out / f"{name}.onnx")).into_model().into_runnable() \
            .run([d])[0].to_numpy()
        assert np.abs(t - r).max() < 1e-5


def test_another_descriptor_size_on_the_same_backbone(trained):
    """--backbone-from: another PCA on an extractor's backbone, which stays the same graph."""
    import onnxruntime as ort

    import cut_backbone
    tmp, out = trained
    other = tmp / "pca8"
    train_heads.main(["--train", str(tmp / "train"), "--test", str(tmp / "test"), "--size", "64",
                      "--pca-dim", "8", "--grid", "quick", "--out-dir", str(other),
                      "--backbone-from", str(out / "extractor.onnx"),
                      "--report", str(tmp / "PCA8.md"), "--cache-dir", "", "--compare-dims", ""])
    manifest = json.loads((other / "manifest.json").read_text())
    ext = manifest["models"][0]
    assert ext["descriptor_dim"] == 8 and "pca8" in ext["version"]
    assert ext["provenance"]["backbone_from"]["sha256"] == train_heads.sha256(
        str(out / "extractor.onnx"))
    assert all(m["descriptor_dim"] == 8 for m in manifest["models"])

    import onnx
    x = np.random.default_rng(3).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
    run = lambda model: ort.InferenceSession(  # noqa: E731
        model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"pixels": x})[0]
    first = cut_backbone.cut(onnx.load(str(out / "extractor.onnx")))
    second = cut_backbone.cut(onnx.load(str(other / "extractor.onnx")))
    # The same backbone: the same features, whichever extractor it is cut from.
    np.testing.assert_array_equal(run(first), run(second))
    (d,) = ort.InferenceSession(str(other / "extractor.onnx"),
                                providers=["CPUExecutionProvider"]).run(None, {"pixels": x})
    assert d.shape == (2, 8)
