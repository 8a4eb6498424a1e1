#!/usr/bin/env python3
"""The SLO load test (F30): starts the platform, runs the Locust workload of locustfile.py
against it headless, and judges each SLO; prints a pass/fail table and writes JSON.

    .venv/bin/python bench/slo/run.py --mode both --duration 60          # the SLO run
    .venv/bin/python bench/slo/run.py --mode embedded --duration 600     # the 10-minute soak

The seeds' SLOs are 99.5 % availability, P95 < 500 ms, errors < 1 %, > 100 req/s; ours are ten
times stricter: availability >= 99.95 % (the share of `/ready` probes answered 200, every
0.5 s), P95 < 50 ms over every request, errors < 0.1 %, >= 1,000 mixed req/s, and RSS flat
within 10 % (the mean of the run's last tenth against the mean of its second tenth, after the
warm-up). `embedded` is `vision serve` on SQLite; `distributed` is the gateway, the recorder,
the extractor and one classifier per head as separate processes on a tansu broker and a
fresh PostgreSQL database. Rate limits are off (one client address plays every user). Locust
runs on the same two cores as the server: its own CPU time counts against the platform.
"""

import argparse
import csv
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
DATASET = str(ROOT.parent / "shared/data/cifar10/test.tar.gz")

SLOS = [
    # (name, what is measured, target, passes)
    ("throughput", "req/s", ">= 1000", lambda v: v >= 1000),
    ("latency p95", "ms", "< 50", lambda v: v < 50),
    ("errors", "%", "< 0.1", lambda v: v < 0.1),
    ("availability", "%", ">= 99.95", lambda v: v >= 99.95),
    ("RSS growth", "%", "<= 10", lambda v: abs(v) <= 10),
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url, process, what, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{what} exited with {process.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url + "/ready", timeout=2) as response:
                if response.status == 200:
                    return
        except Exception:
            pass
        time.sleep(0.25)
    raise SystemExit(f"{what} not ready within {timeout} s")


class Stack:
    """The processes of one platform, and what they need (a broker, a database)."""

    def __init__(self, args, mode):
        self.args, self.mode = args, mode
        self.processes = []  # (name, Popen)
        self.helpers = []
        self.data = tempfile.mkdtemp(prefix=f"vision-slo-{mode}-")
        self.database = None
        self.url = None

    def env(self, port, **extra):
        env = dict(os.environ)
        env.update({
            "VISION_ADDR": f"127.0.0.1:{port}",
            "VISION_DATA_DIR": self.data,
            "VISION_MODELS_DIR": str(self.args.models),
            "VISION_RUNTIME": self.args.runtime,
            "VISION_RATE_PER_KEY": "0",
            "VISION_RATE_PER_IP": "0",
            "RUST_LOG": "warn",
        })
        env.update(extra)
        return env

    def spawn(self, name, argv, **extra):
        port = free_port()
        process = subprocess.Popen([str(self.args.binary), *argv], env=self.env(port, **extra),
                                   stdout=subprocess.DEVNULL, start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, process, name)
        self.processes.append((name, process))
        return url

    def start(self):
        if self.mode == "embedded":
            self.url = self.spawn("serve", ["serve"])
            return self
        broker_port = free_port()
        listener = f"tcp://127.0.0.1:{broker_port}"
        tansu = subprocess.Popen(
            [self.args.tansu, "broker", "--storage-engine", "memory://tansu/",
             "--kafka-listener-url", listener, "--kafka-advertised-listener-url", listener],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        self.helpers.append(("tansu", tansu))
        name = f"vision_slo_{uuid.uuid4().hex[:12]}"
        subprocess.run(["psql", self.args.postgres, "-qc", f'CREATE DATABASE "{name}"'], check=True)
        self.database = name
        base = self.args.postgres.rsplit("/", 1)[0]
        shared = {
            "KAFKA_BROKERS": f"127.0.0.1:{broker_port}",
            "DATABASE_URL": f"{base}/{name}",
            "VISION_OBJECTS_DIR": str(Path(self.data) / "objects"),
        }
        heads = [m["name"] for m in json.loads((self.args.models / "manifest.json").read_text())["models"]
                 if m["role"] == "classifier"]
        heads = list(dict.fromkeys(heads))
        self.spawn("recorder", ["worker", "recorder"], VISION_INSTANCE_ID="recorder", **shared)
        self.url = self.spawn("api", ["api"], VISION_INSTANCE_ID="api", **shared)
        self.spawn("extractor", ["worker", "extractor"], VISION_INSTANCE_ID="extractor", **shared)
        for head in heads:
            self.spawn(f"classifier {head}", ["worker", "classifier", "--model", head],
                       VISION_INSTANCE_ID=f"classifier-{head}", **shared)
        return self

    def pids(self):
        return [p.pid for _, p in self.processes + self.helpers]

    def stop(self):
        for _, process in reversed(self.processes + self.helpers):
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for _, process in self.processes + self.helpers:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        if self.database:
            subprocess.run(["psql", self.args.postgres, "-qc",
                            f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)'], check=False)
        shutil.rmtree(self.data, ignore_errors=True)


def rss_mb(pids):
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total / 1024


def cpu_seconds(pid):
    """User + system CPU time of a live process, in seconds (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds():
    """CPU time of every PostgreSQL process on the machine (the server and its backends)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if text.split("(", 1)[1].rsplit(")", 1)[0] == "postgres":
            total += cpu_seconds(stat.parent.name)
    return total


def cpu_snapshot(stack):
    """CPU seconds so far of each process of the platform, of its helpers and of PostgreSQL."""
    snapshot = {name: cpu_seconds(p.pid) for name, p in stack.processes + stack.helpers}
    if stack.database:
        snapshot["postgresql"] = postgres_cpu_seconds()
    return snapshot


def seed(url, count):
    """Uploads `count` images first, so that reads have rows to read."""
    images = []
    with tarfile.open(os.environ.get("SLO_DATASET", DATASET)) as archive:
        for member in archive:
            if member.isfile() and member.name.lower().endswith((".jpg", ".jpeg", ".png")):
                images.append((os.path.basename(member.name), archive.extractfile(member).read()))
                if len(images) >= count:
                    break
    boundary = uuid.uuid4().hex
    for i in range(count):
        name, content = images[i % len(images)]
        parts = [
            ("operations", None, json.dumps({
                "query": "mutation ($f: Upload!) { uploadImage(file: $f) { id } }",
                "variables": {"f": None}}).encode()),
            ("map", None, json.dumps({"0": ["variables.f"]}).encode()),
            ("0", name, content),
        ]
        body = b""
        for field, filename, value in parts:
            disposition = f'form-data; name="{field}"' + (f'; filename="{filename}"' if filename else "")
            body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + value + b"\r\n"
        body += f"--{boundary}--\r\n".encode()
        request = urllib.request.Request(url + "/graphql", data=body, headers={
            "content-type": f"multipart/form-data; boundary={boundary}",
            "apollo-require-preflight": "true"})
        while True:
            try:
                urllib.request.urlopen(request, timeout=30).read()
                break
            except urllib.error.HTTPError as e:  # OVERLOADED: as a client should, wait
                if e.code != 503:
                    raise
                time.sleep(float(e.headers.get("retry-after", "1")))


def run_mode(args, mode):
    stack = Stack(args, mode).start()
    try:
        seed(stack.url, args.seed)
        samples, probes = [], []
        stop = threading.Event()

        def sample():
            started = time.time()
            while not stop.is_set():
                samples.append((time.time() - started, rss_mb(stack.pids())))
                try:
                    with urllib.request.urlopen(stack.url + "/ready", timeout=2) as r:
                        probes.append(r.status == 200)
                except Exception:
                    probes.append(False)
                stop.wait(0.5)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        prefix = Path(tempfile.mkdtemp(prefix="slo-csv-")) / mode
        env = dict(os.environ)
        env.setdefault("SLO_DATASET", DATASET)
        # Where the two cores go during the load: each process's CPU time over the run, and
        # Locust's (the only child that exits meanwhile).
        cpu_before, children_before = cpu_snapshot(stack), resource.getrusage(resource.RUSAGE_CHILDREN)
        load_started = time.time()
        subprocess.run([sys.executable, "-m", "locust", "-f", str(HERE / "locustfile.py"), "--headless",
                        "-u", str(args.users), "-r", str(args.users), "-t", f"{args.duration}s",
                        "-H", stack.url, "--csv", str(prefix), "--only-summary", "--loglevel", "WARNING"],
                       env=env, check=False, cwd=ROOT)
        load_seconds = time.time() - load_started
        cpu_after, children_after = cpu_snapshot(stack), resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = {name: cpu_after[name] - cpu_before.get(name, 0.0) for name in cpu_after}
        cpu["locust"] = (children_after.ru_utime + children_after.ru_stime
                         - children_before.ru_utime - children_before.ru_stime)
        print(f"CPU over the {load_seconds:.0f} s of load (cores busy):")
        for name, seconds in sorted(cpu.items(), key=lambda kv: -kv[1]):
            print(f"  {name:<22} {seconds:8.1f} s  {seconds / load_seconds:5.2f}")
        stop.set()
        sampler.join()
        rows = list(csv.DictReader(open(f"{prefix}_stats.csv")))
        total = next(r for r in rows if r["Name"] == "Aggregated")
        requests, failures = int(total["Request Count"]), int(total["Failure Count"])
        by_name = {r["Name"]: {"requests": int(r["Request Count"]), "failures": int(r["Failure Count"]),
                               "p50_ms": float(r["50%"] or 0), "p95_ms": float(r["95%"] or 0),
                               "rps": float(r["Requests/s"] or 0)}
                   for r in rows if r["Name"] != "Aggregated"}
        tenth = max(1, len(samples) // 10)
        warm = [mb for _, mb in samples[tenth:2 * tenth]] or [samples[0][1]]
        last = [mb for _, mb in samples[-tenth:]]
        growth = (sum(last) / len(last) / (sum(warm) / len(warm)) - 1) * 100
        figures = {
            "throughput": float(total["Requests/s"]),
            "latency p95": float(total["95%"]),
            "errors": 100.0 * failures / max(1, requests),
            "availability": 100.0 * sum(probes) / max(1, len(probes)),
            "RSS growth": growth,
        }
        return {
            "mode": mode, "users": args.users, "duration_s": args.duration,
            "requests": requests, "failures": failures,
            "rss_mb": {"warm": sum(warm) / len(warm), "last": sum(last) / len(last),
                       "peak": max(mb for _, mb in samples)},
            "figures": figures,
            "slos": {name: {"value": figures[name], "unit": unit, "target": target,
                            "pass": bool(ok(figures[name]))} for name, unit, target, ok in SLOS},
            "by_request": by_name,
            "cpu_cores_busy": {name: seconds / load_seconds for name, seconds in cpu.items()},
        }
    finally:
        stack.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=["embedded", "distributed", "both"], default="both")
    parser.add_argument("--duration", type=int, default=60, help="seconds of load per mode")
    parser.add_argument("--users", type=int, default=40, help="simulated users (Locust)")
    parser.add_argument("--seed", type=int, default=200, help="images uploaded before the load")
    parser.add_argument("--binary", type=Path, default=ROOT / "target/release/vision")
    parser.add_argument("--models", type=Path, default=ROOT / "models")
    parser.add_argument("--runtime", default="ort")
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432/test")
    parser.add_argument("--tansu", default=shutil.which("tansu") or str(Path.home() / ".cargo/bin/tansu"))
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/slo.json")
    args = parser.parse_args()
    modes = ["embedded", "distributed"] if args.mode == "both" else [args.mode]
    results = [run_mode(args, mode) for mode in modes]
    print(f"\n{'SLO':<14} {'target':>10}  " + "  ".join(f"{r['mode']:>22}" for r in results))
    for name, unit, target, _ in SLOS:
        cells = []
        for r in results:
            slo = r["slos"][name]
            cells.append(f"{slo['value']:>12.2f} {unit:<5} {'PASS' if slo['pass'] else 'FAIL':>4}")
        print(f"{name:<14} {target + ' ' + unit:>10}  " + "  ".join(cells))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"runs": results}, indent=2) + "\n")
    print(f"\nwritten: {args.out}")
    return 0 if all(s["pass"] for r in results for s in r["slos"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
