"""Times one ONNX model in Python's onnxruntime, as `vision-models time` does in Rust: the same
input (batch x size x size x 3, fixed pseudo-random pixels), threads, batch, warm-up and best of
three repetitions. Prints one JSON line: {"ms_per_image": ..., "onnxruntime": version}.

    python time_backbone.py MODEL SIZE THREADS BATCH IMAGES
"""

import json
import sys
import time

import numpy as np
import onnxruntime as ort


def main(model: str, size: int, threads: int, batch: int, images: int) -> None:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    pixels = (np.random.RandomState(0).rand(batch, size, size, 3) * 255).astype(np.float32)
    for _ in range(5):
        session.run(None, {name: pixels})
    runs = max(1, images // batch)
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(runs):
            session.run(None, {name: pixels})
        best = min(best, (time.perf_counter() - started) * 1000 / (runs * batch))
    print(json.dumps({"ms_per_image": best, "onnxruntime": ort.__version__}))


if __name__ == "__main__":
    model, size, threads, batch, images = sys.argv[1:6]
    main(model, int(size), int(threads), int(batch), int(images))
