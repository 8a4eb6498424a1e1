"""The reference stack answers one upload with the three predictions onnxruntime gives directly.

Starts the service with uvicorn on a free port, subscribes to `imageCompleted` over
graphql-transport-ws, uploads one image (GraphQL multipart request), then compares the recorded
predictions with the models run here by hand. Run: .venv/bin/python -m pytest bench/python_ref
"""

import hashlib
import io
import json
import os
import socket
import subprocess
import sys
import time

import httpx
import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image
from websockets.sync.client import connect

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MODELS = os.path.join(ROOT, "models")
sys.path.insert(0, HERE)

import app  # noqa: E402

with open(os.path.join(MODELS, "manifest.json")) as f:
    MANIFEST = json.load(f)
CLASSES = MANIFEST["classes"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = free_port()
    env = dict(os.environ, REF_MODELS_DIR=MODELS, REF_DATA_DIR=str(tmp_path_factory.mktemp("data")))
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app:app", "--app-dir", HERE, "--port", str(port),
         "--log-level", "warning"],
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/ready").status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert process.poll() is None, "the reference server exited"
        assert time.monotonic() < deadline, "the reference server is not ready after 60 s"
        time.sleep(0.2)
    yield url
    process.terminate()
    process.wait(10)


def sample_png() -> bytes:
    # Not 32x32, so the shrinking resize runs too.
    y, x = np.mgrid[0:40, 0:48]
    rgb = np.stack([(x * 5) % 256, (y * 6) % 256, (x * y) % 256], axis=-1).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()


def test_preprocessing_matches_the_rust_extractor():
    # SHA-256 of the 160x160 u8 input `vision_inference::preprocess::to_pixels` (image 0.25.10)
    # makes of sample_png(): the shrink to 32x32 and the upscale agree bit for bit.
    pixels = app.to_pixels(Image.open(io.BytesIO(sample_png())), 160)
    assert pixels.shape == (1, 160, 160, 3) and pixels.dtype == np.float32
    digest = hashlib.sha256(pixels.astype(np.uint8).tobytes()).hexdigest()
    assert digest == "7819fd7d1d2444099cdec949b953e319d9643208a02b207ad86a9a8088c06a65"


def expected(data: bytes) -> dict:
    """Each head's probabilities, from onnxruntime sessions built here."""
    sessions = {m["name"]: ort.InferenceSession(os.path.join(MODELS, m["file"]),
                                                providers=["CPUExecutionProvider"])
                for m in MANIFEST["models"]}
    pixels = app.to_pixels(Image.open(io.BytesIO(data)), MANIFEST["input_size"])
    descriptors = sessions.pop("extractor").run(None, {"pixels": pixels})[0]
    return {name: s.run(None, {"descriptors": descriptors})[0][0] for name, s in sessions.items()}


def test_upload_gets_the_three_predictions_onnxruntime_gives(server):
    data = sample_png()
    ws_url = server.replace("http", "ws", 1) + "/graphql"
    with connect(ws_url, subprotocols=["graphql-transport-ws"], open_timeout=10) as ws:
        ws.send(json.dumps({"type": "connection_init"}))
        assert json.loads(ws.recv(10))["type"] == "connection_ack"
        ws.send(json.dumps({"id": "1", "type": "subscribe",
                            "payload": {"query": "subscription { imageCompleted { id status } }"}}))
        operations = {
            "query": "mutation($f: Upload!) { uploadImage(file: $f, label: \"cat\") { id status } }",
            "variables": {"f": None},
        }
        response = httpx.post(
            f"{server}/graphql",
            data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.f"]})},
            files={"0": ("sample.png", data, "image/png")},
        ).json()
        uploaded = response["data"]["uploadImage"]
        assert uploaded["status"] == "PENDING", response
        event = json.loads(ws.recv(30))
        assert event["type"] == "next", event
        assert event["payload"]["data"]["imageCompleted"] == {"id": uploaded["id"],
                                                              "status": "COMPLETED"}

    query = ("query($id: ID!) { image(id: $id) { predictions { model modelVersion predictedClass"
             " confidence topK { class probability } correct } } }")
    image = httpx.post(f"{server}/graphql",
                       json={"query": query, "variables": {"id": uploaded["id"]}}).json()
    predictions = {p["model"]: p for p in image["data"]["image"]["predictions"]}
    want = expected(data)
    assert set(predictions) == {"fast", "balanced", "accurate"}
    for name, probabilities in want.items():
        p = predictions[name]
        best = int(np.argmax(probabilities))
        assert p["predictedClass"] == CLASSES[best]
        assert p["confidence"] == pytest.approx(float(probabilities[best]), abs=1e-5)
        assert [s["class"] for s in p["topK"]] == [
            CLASSES[i] for i in np.argsort(-probabilities, kind="stable")[:3]]
        assert p["correct"] == (p["predictedClass"] == "cat")


def test_refuses_a_file_that_is_not_an_image(server):
    operations = {"query": "mutation($f: Upload!) { uploadImage(file: $f) { id } }",
                  "variables": {"f": None}}
    response = httpx.post(
        f"{server}/graphql",
        data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.f"]})},
        files={"0": ("x.jpg", b"not an image", "image/jpeg")},
    ).json()
    assert response["data"] is None
    assert "cannot be decoded" in response["errors"][0]["message"]
