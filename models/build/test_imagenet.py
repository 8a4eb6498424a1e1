"""pytest: the exported EfficientNet-Lite0 graph classifies sklearn's sample photos correctly."""
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import check_imagenet  # noqa: E402
import export_backbone  # noqa: E402


@pytest.fixture(scope="module")
def results():
    sess = check_imagenet.make_session(None, 224)
    return check_imagenet.top5(sess, check_imagenet.load_sample_images(224))


def test_flower_is_daisy(results):
    assert results["flower.jpg"][0][0] == check_imagenet.DAISY, results["flower.jpg"]


def test_china_is_a_building(results):
    assert not check_imagenet.check(results), results


def test_weights_loader_honours_strides():
    sd = export_backbone.load_state_dict(export_backbone.weights_path())
    w = sd["_conv_stem.weight"]
    assert w.shape == (32, 3, 3, 3) and w.flags["C_CONTIGUOUS"]
    assert len([k for k in sd if k.endswith("_depthwise_conv.weight")]) == 16


def test_feature_graph_interface():
    import onnxruntime as ort
    model = export_backbone.build_model(96)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (inp,), (out,) = sess.get_inputs(), sess.get_outputs()
    assert inp.name == "pixels" and inp.shape[1:] == [96, 96, 3]
    assert out.name == "features" and out.shape[1] == 1280
    x = np.random.default_rng(0).uniform(0, 255, (2, 96, 96, 3)).astype(np.float32)
    (f,) = sess.run(None, {"pixels": x})
    assert f.shape == (2, 1280) and np.all(f >= 0) and np.all(f <= 6)


def test_tract_runs_backbone_like_onnxruntime(tmp_path):
    """The Rust side uses tract; its Python bindings must give the same features."""
    tract = pytest.importorskip("tract")
    import onnx
    import onnxruntime as ort
    path = str(tmp_path / "b96.onnx")
    onnx.save(export_backbone.build_model(96), path)
    x = np.random.default_rng(1).uniform(0, 255, (3, 96, 96, 3)).astype(np.float32)
    ref = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"pixels": x})[0]
    out = tract.onnx().load(path).into_model().into_runnable().run([x])[0].to_numpy()
    assert out.shape == ref.shape
    assert np.abs(out - ref).max() < 1e-3
