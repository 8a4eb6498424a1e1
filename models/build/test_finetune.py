"""pytest: the fine-tuned tail (JAX) computes what the exported ONNX graph computes, and
finetune.py runs end to end on small data."""
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import export_backbone  # noqa: E402
import finetune  # noqa: E402

SIZE, CUT = 64, 10


@pytest.fixture(scope="module")
def sd():
    return export_backbone.load_state_dict(export_backbone.weights_path())


def _ort(model):
    import onnxruntime as ort
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def _pixels(n=3):
    return np.random.default_rng(0).uniform(0, 255, (n, SIZE, SIZE, 3)).astype(np.float32)


def _activations(sd, pixels):
    side, c = finetune.cut_shape(SIZE, CUT, sd)
    flat = _ort(export_backbone.build_model(SIZE, sd=sd, cut=CUT)).run(None, {"pixels": pixels})[0]
    assert flat.shape == (len(pixels), side * side * c)
    return flat.reshape(len(pixels), side, side, c)


def test_tail_on_cut_activations_equals_the_whole_backbone(sd):
    pixels = _pixels()
    tail = finetune.Tail(sd, CUT)
    _, pooled = tail.forward(tail.params, _activations(sd, pixels))
    want = _ort(export_backbone.build_model(SIZE, sd=sd)).run(None, {"pixels": pixels})[0]
    assert np.abs(np.asarray(pooled) - want).max() < 1e-3 * max(1.0, np.abs(want).max())


def test_changed_tail_exports_to_the_same_function(sd):
    """to_convs + export_backbone --convs: the ONNX graph computes the JAX tail's features,
    whatever the weights (so the layouts of 1x1 and depthwise kernels round-trip)."""
    pixels = _pixels()
    tail = finetune.Tail(sd, CUT)
    rng = np.random.default_rng(1)
    params = {k: {n: (v * (1 + 0.2 * rng.standard_normal(v.shape))).astype(np.float32)
                  for n, v in q.items()} for k, q in tail.params.items()}
    _, pooled = tail.forward(params, _activations(sd, pixels))
    convs = tail.to_convs(params)
    changed = [k for k in convs if not np.array_equal(convs[k][0], tail.base[k][0])]
    assert "_conv_head" in changed and f"_blocks.{CUT + 1}._depthwise_conv" in changed
    assert f"_blocks.{CUT}._project_conv" not in changed  # the frozen part is untouched
    got = _ort(export_backbone.build_model(SIZE, sd=sd, convs=convs)).run(None, {"pixels": pixels})[0]
    assert np.abs(got - np.asarray(pooled)).max() < 1e-3 * max(1.0, np.abs(got).max())


def test_finetune_end_to_end(sd, tmp_path):
    """finetune.py on 60 images' activations: writes folded convolutions that
    export_backbone loads (shape-checked), and a report with the validation accuracy."""
    pixels = np.random.default_rng(2).uniform(0, 255, (60, SIZE, SIZE, 3)).astype(np.float32)
    acts = _activations(sd, pixels).reshape(60, -1)
    flip = _activations(sd, np.ascontiguousarray(pixels[:, :, ::-1])).reshape(60, -1)
    d = tmp_path / "acts"
    d.mkdir()
    np.save(d / "features.npy", acts)
    np.save(d / "features_flip.npy", flip)
    np.save(d / "labels.npy", (np.arange(60) % 10).astype(np.int64))
    out, report = tmp_path / "ft.npz", tmp_path / "FT.md"
    finetune.main(["--train", str(d), "--size", str(SIZE), "--cut", str(CUT), "--out", str(out),
                   "--report", str(report), "--epochs", "1", "--batch", "16"])
    convs = export_backbone.load_convs(str(out), sd)
    assert set(convs) == set(export_backbone.folded_convs(sd))
    assert "| 1 |" in report.read_text()
    with pytest.raises(SystemExit, match="expected"):
        finetune.load_activations(str(d), (SIZE, 3))
