"""The SLO load test's workload (F30): a mix of what the platform's users do, through GraphQL.

    SLO_DATASET=../shared/data/cifar10/test.tar.gz locust -f bench/slo/locustfile.py --host URL

Run by bench/slo/run.py, which starts the platform, runs this headless, and judges the SLOs.
Three kinds of user, by weight:

- viewers (most): the dashboard's and an API client's reads, without pause: an image with its
  predictions, the latest predictions, model statistics, the confusion matrix, a page of images;
- uploaders: one CIFAR-10 test image per request (multipart `uploadImage`), each waiting 0.2 s;
- subscribers: a WebSocket (graphql-transport-ws) that follows `pipelineEvents`; the time from
  an event's commit (`at`) to its arrival is reported as "ws event", and the handshake as
  "ws connect".
"""

import io
import json
import os
import random
import tarfile
import threading
import time
from datetime import datetime

import websocket
from locust import FastHttpUser, User, constant, events, task

GRAPHQL = "/graphql"
_images = []
_images_lock = threading.Lock()
_known_ids = []


def sample_images(limit=300):
    """JPEG bytes of the first `limit` test images, read once per process."""
    with _images_lock:
        if _images:
            return _images
        path = os.environ.get("SLO_DATASET", "../shared/data/cifar10/test.tar.gz")
        with tarfile.open(path) as archive:
            for member in archive:
                if member.isfile() and member.name.lower().endswith((".jpg", ".jpeg", ".png")):
                    _images.append((os.path.basename(member.name), archive.extractfile(member).read()))
                    if len(_images) >= limit:
                        break
        if not _images:
            raise RuntimeError(f"no image in {path}")
        return _images


def remember(image_id):
    _known_ids.append(image_id)
    if len(_known_ids) > 1000:
        del _known_ids[:500]


def graphql(client, name, query, variables=None):
    """A JSON GraphQL request; a response with `errors` counts as a failure."""
    with client.post(GRAPHQL, json={"query": query, "variables": variables or {}},
                     name=name, catch_response=True) as response:
        if response.status_code != 200:
            response.failure(f"HTTP {response.status_code}")
            return None
        body = response.json()
        if body.get("errors"):
            response.failure(body["errors"][0].get("extensions", {}).get("code", "error"))
            return None
        response.success()
        return body["data"]


class Viewer(FastHttpUser):
    weight = 12
    wait_time = constant(0)

    @task(4)
    def image(self):
        if not _known_ids:
            return self.recent()
        graphql(self.client, "image", "query ($id: ID!) { image(id: $id) { id status label "
                "predictions { model modelVersion predictedClass confidence inferenceMs } "
                "comparison { fastestModel consensusClass agreement } } }",
                {"id": random.choice(_known_ids)})

    @task(3)
    def recent(self):
        data = graphql(self.client, "recentPredictions",
                       "{ recentPredictions(limit: 10) { imageId model predictedClass confidence } }")
        for p in (data or {}).get("recentPredictions", []):
            remember(p["imageId"])

    @task(2)
    def model_stats(self):
        graphql(self.client, "modelStats",
                "{ modelStats { model count accuracy latencyP50Ms latencyP95Ms meanConfidence } }")

    @task(1)
    def confusion(self):
        graphql(self.client, "confusionMatrix", "{ confusionMatrix(model: \"fast\") { classes counts } }")

    @task(1)
    def images_page(self):
        graphql(self.client, "images", "{ images(first: 10) { edges { node { id status } } } }")


class Uploader(FastHttpUser):
    weight = 2
    wait_time = constant(0.2)

    @task
    def upload(self):
        name, content = random.choice(sample_images())
        operations = json.dumps({
            "query": "mutation ($file: Upload!) { uploadImage(file: $file) { id } }",
            "variables": {"file": None},
        })
        with self.client.post(
            GRAPHQL,
            name="uploadImage",
            headers={"apollo-require-preflight": "true"},
            files={
                "operations": (None, operations),
                "map": (None, json.dumps({"0": ["variables.file"]})),
                "0": (name, content, "image/jpeg"),
            },
            catch_response=True,
        ) as response:
            body = response.json() if response.status_code in (200, 503) else {}
            if response.status_code != 200 or body.get("errors"):
                code = (body.get("errors") or [{}])[0].get("extensions", {}).get("code")
                response.failure(code or f"HTTP {response.status_code}")
                return
            response.success()
            remember(body["data"]["uploadImage"]["id"])


class Subscriber(User):
    weight = 1
    # Reading is the task: no pause, or events would wait in the socket and their latency
    # would be the client's.
    wait_time = constant(0)

    def on_start(self):
        url = self.host.replace("http://", "ws://").replace("https://", "wss://") + GRAPHQL
        started = time.perf_counter()
        self.socket = websocket.create_connection(url, subprotocols=["graphql-transport-ws"], timeout=10)
        self.socket.send(json.dumps({"type": "connection_init", "payload": {}}))
        ack = json.loads(self.socket.recv())
        fire("ws connect", started, ok=ack.get("type") == "connection_ack")
        self.socket.send(json.dumps({
            "id": "1", "type": "subscribe",
            "payload": {"query": "subscription { pipelineEvents(kinds: [IMAGE_COMPLETED]) { cursor at imageId } }"},
        }))
        self.socket.settimeout(1)

    @task
    def follow(self):
        """Reads what arrived for about a second; each event is timed from its commit."""
        until = time.time() + 1
        while time.time() < until:
            try:
                message = json.loads(self.socket.recv())
            except websocket.WebSocketTimeoutException:
                return
            if message.get("type") == "ping":
                self.socket.send(json.dumps({"type": "pong"}))
                continue
            if message.get("type") != "next":
                continue
            payload = message["payload"]
            if payload.get("errors"):
                fire("ws event", time.perf_counter(), ok=False)
                continue
            event = payload["data"]["pipelineEvents"]
            at = datetime.fromisoformat(event["at"].replace("Z", "+00:00")).timestamp()
            latency_ms = max(0.0, (time.time() - at) * 1000)
            events.request.fire(request_type="WS", name="ws event", response_time=latency_ms,
                                response_length=0, exception=None, context={})

    def on_stop(self):
        try:
            self.socket.close()
        except Exception:
            pass


def fire(name, started, ok=True):
    events.request.fire(request_type="WS", name=name,
                        response_time=(time.perf_counter() - started) * 1000, response_length=0,
                        exception=None if ok else RuntimeError(name), context={})
