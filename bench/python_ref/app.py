"""Reference Python stack for `vision-bench --compare-python`.

The kind of service the seeds describe, written plainly: FastAPI + strawberry-graphql +
onnxruntime, served by uvicorn, one process. It speaks the part of our GraphQL API that the
benchmark client uses: the multipart `uploadImage` mutation, the `imageCompleted` subscription
(graphql-transport-ws or graphql-ws), `image(id)`, `modelStats`, and `GET /ready`.

Per upload: check and decode the file (Pillow), write it under the data directory and a row in
SQLite (stdlib sqlite3, WAL), answer at once with status PENDING; then, as an asyncio task:
preprocess exactly as the Rust extractor does, run the extractor in a worker thread, run the
three heads in parallel threads (`run_in_executor` + `gather`), record the predictions in SQLite
and notify the subscribers.

Environment: REF_MODELS_DIR (default `models`), REF_DATA_DIR (default `data-ref`).
Run from the repository root:
    .venv/bin/python -m uvicorn app:app --app-dir bench/python_ref --port 8090
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import os
import sqlite3
import time
import uuid
from contextlib import asynccontextmanager
from enum import Enum
from functools import lru_cache
from typing import AsyncGenerator, Optional

import numpy as np
import onnxruntime as ort
import strawberry
from fastapi import FastAPI
from PIL import Image as PILImage
from strawberry.fastapi import GraphQLRouter
from strawberry.file_uploads import Upload

MODELS_DIR = os.environ.get("REF_MODELS_DIR", "models")
DATA_DIR = os.environ.get("REF_DATA_DIR", "data-ref")
# Our upload limits (workers/inference/src/image_input).
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000
FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
# The heads were trained on CIFAR-10's 32x32 photos: every image is brought to that scale first.
SOURCE_SIZE = 32
TOP_K = 3
CORES = len(os.sched_getaffinity(0))


# --- Preprocessing: the same as workers/inference/src/preprocess.rs -------------------------


@lru_cache(maxsize=None)
def triangle_taps(src: int, dst: int) -> tuple[np.ndarray, np.ndarray]:
    """The image crate's Triangle filter (imageops/sample.rs) from `src` to `dst` pixels: for each
    output pixel, its source indices and f32 weights, [dst, taps], padded with zero weights.

    Pillow's BILINEAR differs slightly (fixed-point weights, rounding between the passes).
    """
    f32 = np.float32
    ratio = f32(src) / f32(dst)
    scale = max(ratio, f32(1.0))  # shrinking widens the support: averages like an area filter
    rows = []
    for out in range(dst):
        centre = (f32(out) + f32(0.5)) * ratio
        left = min(max(int(np.floor(centre - scale)), 0), src - 1)
        right = min(max(int(np.ceil(centre + scale)), left + 1), src)
        x = (np.arange(left, right, dtype=np.float32) - (centre - f32(0.5))) / scale
        k = np.maximum(f32(1.0) - np.abs(x), f32(0.0))
        rows.append((left, k / k.sum(dtype=np.float32)))
    taps = max(len(w) for _, w in rows)
    index = np.array([[left + min(t, len(w) - 1) for t in range(taps)] for left, w in rows])
    weight = np.zeros((dst, taps), np.float32)
    for o, (_, w) in enumerate(rows):
        weight[o, : len(w)] = w
    return index, weight


def sample(rgb: np.ndarray, axis: int, size: int) -> np.ndarray:
    index, weight = triangle_taps(rgb.shape[axis], size)
    shape = [1, 1, 1]
    shape[axis] = size
    out = np.zeros(rgb.shape[:axis] + (size,) + rgb.shape[axis + 1 :], np.float32)
    # Tap by tap, multiply then add in f32: the crate's order, so the same rounding.
    for t in range(index.shape[1]):
        out += weight[:, t].reshape(shape) * np.take(rgb, index[:, t], axis=axis)
    return out


def resize(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """Like `image::imageops::resize`: vertical pass kept in float, horizontal pass rounded."""
    wide = sample(sample(rgb, 0, height), 1, width)
    return np.floor(np.clip(wide, 0.0, 255.0) + 0.5)  # f32::round: half away from zero


def to_pixels(image: PILImage.Image, size: int) -> np.ndarray:
    """[1, size, size, 3] float32 RGB in 0..255 (NHWC; the graph normalises)."""
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
    if rgb.shape[:2] != (SOURCE_SIZE, SOURCE_SIZE):
        rgb = resize(rgb, SOURCE_SIZE, SOURCE_SIZE)
    if size != SOURCE_SIZE:
        rgb = resize(rgb, size, size)
    return rgb[np.newaxis].astype(np.float32)


# --- Models ----------------------------------------------------------------------------------


def load_session(path: str, threads: int) -> ort.InferenceSession:
    # The settings of our ORT backend (workers/inference/src/runtime/ort_backend.rs).
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


class Model:
    def __init__(self, directory: str, entry: dict, threads: int):
        self.name = entry["name"]
        self.version = entry["version"]
        self.input_size = entry.get("input_size", SOURCE_SIZE)
        self.session = load_session(os.path.join(directory, entry["file"]), threads)
        self.input = self.session.get_inputs()[0].name

    def run(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input: x})[0]


class Bundle:
    def __init__(self, directory: str):
        with open(os.path.join(directory, "manifest.json")) as f:
            manifest = json.load(f)
        self.classes: list[str] = manifest["classes"]
        entries = manifest["models"]
        # One intra-op thread per core for the backbone, one for each tiny head, as ours.
        self.extractor = next(
            Model(directory, e, CORES) for e in entries if e["role"] == "extractor"
        )
        self.heads = [Model(directory, e, 1) for e in entries if e["role"] == "classifier"]


def extract(image: PILImage.Image) -> np.ndarray:
    return models.extractor.run(to_pixels(image, models.extractor.input_size))


def classify(head: Model, descriptors: np.ndarray) -> dict:
    started = time.perf_counter()
    probabilities = head.run(descriptors)[0]
    inference_ms = (time.perf_counter() - started) * 1000.0
    order = np.argsort(-probabilities, kind="stable")
    return {
        "model": head.name,
        "model_version": head.version,
        "predicted_class": models.classes[order[0]],
        "confidence": float(probabilities[order[0]]),
        "top_k": [[models.classes[i], float(probabilities[i])] for i in order[:TOP_K]],
        "inference_ms": inference_ms,
    }


# --- Storage: SQLite, used from the event loop thread only -----------------------------------


def open_db(directory: str) -> sqlite3.Connection:
    os.makedirs(directory, exist_ok=True)
    conn = sqlite3.connect(os.path.join(directory, "reference.db"), check_same_thread=False)
    # Our SQLite settings (workers/db).
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(
        """
        CREATE TABLE IF NOT EXISTS images (
            id TEXT PRIMARY KEY, source TEXT NOT NULL, label TEXT, status TEXT NOT NULL,
            failure_reason TEXT, object_key TEXT NOT NULL, size_bytes INTEGER NOT NULL,
            created_at TEXT NOT NULL, completed_at TEXT);
        CREATE TABLE IF NOT EXISTS predictions (
            image_id TEXT NOT NULL REFERENCES images(id), model TEXT NOT NULL,
            model_version TEXT NOT NULL, predicted_class TEXT NOT NULL, confidence REAL NOT NULL,
            top_k TEXT NOT NULL, inference_ms REAL NOT NULL, correct INTEGER,
            created_at TEXT NOT NULL, PRIMARY KEY (image_id, model, model_version));
        """
    )
    return conn


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat()


# --- GraphQL ---------------------------------------------------------------------------------


@strawberry.enum
class ImageStatus(Enum):
    PENDING = "PENDING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


@strawberry.type
class ClassScore:
    class_: str = strawberry.field(name="class")
    probability: float


@strawberry.type
class Prediction:
    model: str
    model_version: str
    predicted_class: str
    confidence: float
    top_k: list[ClassScore]
    inference_ms: float
    correct: Optional[bool]


@strawberry.type
class Image:
    id: strawberry.ID
    source: str
    label: Optional[str]
    status: ImageStatus
    failure_reason: Optional[str]

    @strawberry.field
    def predictions(self) -> list[Prediction]:
        rows = db.execute(
            "SELECT model, model_version, predicted_class, confidence, top_k, inference_ms,"
            " correct FROM predictions WHERE image_id = ? ORDER BY rowid",
            (self.id,),
        )
        return [
            Prediction(
                model=r[0],
                model_version=r[1],
                predicted_class=r[2],
                confidence=r[3],
                top_k=[ClassScore(class_=c, probability=p) for c, p in json.loads(r[4])],
                inference_ms=r[5],
                correct=None if r[6] is None else bool(r[6]),
            )
            for r in rows
        ]


@strawberry.type
class ModelStats:
    model: str
    count: int
    latency_p50_ms: float
    latency_p95_ms: float
    latency_p99_ms: float
    mean_latency_ms: float
    mean_confidence: float
    labeled: int
    correct: int
    accuracy: Optional[float]


def image_from_row(row) -> Image:
    return Image(
        id=strawberry.ID(row[0]),
        source=row[1],
        label=row[2],
        status=ImageStatus(row[3]),
        failure_reason=row[4],
    )


@strawberry.type
class Query:
    @strawberry.field
    def image(self, id: strawberry.ID) -> Optional[Image]:
        row = db.execute(
            "SELECT id, source, label, status, failure_reason FROM images WHERE id = ?", (id,)
        ).fetchone()
        return image_from_row(row) if row else None

    @strawberry.field
    def model_stats(self) -> list[ModelStats]:
        out = []
        for head in models.heads:
            rows = db.execute(
                "SELECT inference_ms, confidence, correct FROM predictions WHERE model = ?",
                (head.name,),
            ).fetchall()
            if not rows:
                continue
            ms = np.array([r[0] for r in rows])
            judged = [r[2] for r in rows if r[2] is not None]
            p50, p95, p99 = np.percentile(ms, [50, 95, 99], method="inverted_cdf")
            out.append(
                ModelStats(
                    model=head.name,
                    count=len(rows),
                    latency_p50_ms=float(p50),
                    latency_p95_ms=float(p95),
                    latency_p99_ms=float(p99),
                    mean_latency_ms=float(ms.mean()),
                    mean_confidence=float(np.mean([r[1] for r in rows])),
                    labeled=len(judged),
                    correct=sum(judged),
                    accuracy=sum(judged) / len(judged) if judged else None,
                )
            )
        return out


class Refused(Exception):
    pass


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def upload_image(
        self, file: Upload, label: Optional[str] = None, source: str = "upload"
    ) -> Image:
        data = await file.read()
        if not data:
            raise Refused("the file is empty")
        if len(data) > MAX_UPLOAD_BYTES:
            raise Refused(f"the file is {len(data)} bytes, over {MAX_UPLOAD_BYTES}")
        if label is not None and label not in models.classes:
            raise Refused(f"unknown label {label!r}")
        try:
            image = PILImage.open(io.BytesIO(data))
            if image.format not in FORMATS:
                raise Refused("only JPEG, PNG and WebP are accepted")
            if image.width * image.height > MAX_PIXELS:
                raise Refused(f"the image is {image.width}x{image.height} pixels")
            image.load()  # a full decode: corrupt files are refused here
        except (OSError, SyntaxError, ValueError) as e:
            raise Refused(f"the image cannot be decoded: {e}") from e
        image_id = str(uuid.uuid4())
        today = dt.datetime.now(dt.timezone.utc)
        key = f"raw-images/{today:%Y/%m/%d}/{image_id}.{FORMATS[image.format]}"
        path = os.path.join(DATA_DIR, key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        db.execute(
            "INSERT INTO images (id, source, label, status, object_key, size_bytes, created_at)"
            " VALUES (?, ?, ?, 'PENDING', ?, ?, ?)",
            (image_id, source, label, key, len(data), now()),
        )
        db.commit()
        task = asyncio.create_task(process(image_id, image, label))
        # The loop keeps only weak references to tasks.
        background.add(task)
        task.add_done_callback(background.discard)
        return Image(
            id=strawberry.ID(image_id),
            source=source,
            label=label,
            status=ImageStatus.PENDING,
            failure_reason=None,
        )


async def process(image_id: str, image: PILImage.Image, label: Optional[str]) -> None:
    loop = asyncio.get_running_loop()
    try:
        descriptors = await loop.run_in_executor(None, extract, image)
        answers = await asyncio.gather(
            *(loop.run_in_executor(None, classify, head, descriptors) for head in models.heads)
        )
    except Exception as e:  # noqa: BLE001 - any failure marks the image FAILED
        db.execute(
            "UPDATE images SET status = 'FAILED', failure_reason = ? WHERE id = ?",
            (str(e), image_id),
        )
        db.commit()
        return
    created = now()
    db.executemany(
        "INSERT OR IGNORE INTO predictions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                image_id,
                a["model"],
                a["model_version"],
                a["predicted_class"],
                a["confidence"],
                json.dumps(a["top_k"]),
                a["inference_ms"],
                None if label is None else a["predicted_class"] == label,
                created,
            )
            for a in answers
        ],
    )
    db.execute(
        "UPDATE images SET status = 'COMPLETED', completed_at = ? WHERE id = ?",
        (created, image_id),
    )
    db.commit()
    row = db.execute(
        "SELECT id, source, label, status, failure_reason FROM images WHERE id = ?", (image_id,)
    ).fetchone()
    completed = image_from_row(row)
    for queue in subscribers:
        queue.put_nowait(completed)


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def image_completed(
        self, image_id: Optional[strawberry.ID] = None
    ) -> AsyncGenerator[Image, None]:
        queue: asyncio.Queue[Image] = asyncio.Queue()
        subscribers.add(queue)
        try:
            while True:
                image = await queue.get()
                if image_id is None or image.id == image_id:
                    yield image
                    if image_id is not None:
                        return
        finally:
            subscribers.discard(queue)


# --- The app ---------------------------------------------------------------------------------

models: Bundle
db: sqlite3.Connection
subscribers: set[asyncio.Queue] = set()
background: set[asyncio.Task] = set()


@asynccontextmanager
async def lifespan(_app: FastAPI):
    global models, db
    models = Bundle(MODELS_DIR)
    db = open_db(DATA_DIR)
    yield
    db.close()


schema = strawberry.Schema(query=Query, mutation=Mutation, subscription=Subscription)
app = FastAPI(title="vision reference (Python)", lifespan=lifespan)
app.include_router(GraphQLRouter(schema, multipart_uploads_enabled=True), prefix="/graphql")


@app.get("/ready")
async def ready() -> dict:
    return {"ready": True}
