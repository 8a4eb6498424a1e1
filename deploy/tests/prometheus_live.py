#!/usr/bin/env python3
"""Live check of deploy/prometheus and the Grafana dashboard against a real Prometheus server.

    python3 deploy/tests/prometheus_live.py        (deploy/validate.sh --live runs it)

Serves, on 127.0.0.1, a stand-in /metrics with the agreed metric families (as a vision process
will expose them) at known rates; starts the local `prometheus` binary on 127.0.0.1 with
deploy/prometheus/prometheus.yml and alerts.yml, where only the vision job's DNS discovery is
replaced by that one static target and the intervals are shortened to 1 s; then runs every
query of the Grafana dashboard and checks the answers (series, labels, values), and that the
alert rules load healthy. Loopback only, bounded in time (about a minute); stops what it
started. Needs PyYAML and a `prometheus` binary (Debian: prometheus).
"""

import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

DEPLOY = Path(__file__).resolve().parents[1]
BUCKETS = [0.005, 0.05, 0.5, 1.0]
START = time.time()

# Rates (per second) the stand-in exposes, and what the dashboard must show for them.
INGEST = {"upload": 10.0, "cifar10": 20.0}
PREDICTIONS = {"fast": 30.0, "balanced": 30.0, "accurate": 30.0}
HTTP_OK, HTTP_5XX = 5.0, 0.1


def histogram(name, labels, per_second, shares):
    elapsed = time.time() - START
    count = elapsed * per_second
    lines, cumulative = [], 0.0
    for bound, share in zip(BUCKETS, shares):
        cumulative += share
        lines.append(f'{name}_bucket{{{labels},le="{bound}"}} {count * cumulative:.3f}')
    lines.append(f'{name}_bucket{{{labels},le="+Inf"}} {count:.3f}')
    lines.append(f"{name}_sum{{{labels}}} {count * 0.02:.3f}")
    lines.append(f"{name}_count{{{labels}}} {count:.3f}")
    return lines


def exposition():
    t = time.time() - START
    lines = [f'vision_images_accepted_total{{source="{s}"}} {t * r:.3f}' for s, r in INGEST.items()]
    lines += [f'vision_predictions_total{{model="{m}"}} {t * r:.3f}' for m, r in PREDICTIONS.items()]
    lines += histogram("vision_inference_duration_seconds", 'model="fast"', 30, [0.9, 0.1, 0, 0])
    lines += histogram("vision_inference_duration_seconds", 'model="accurate"', 30, [0.1, 0.8, 0.1, 0])
    lines += histogram("vision_http_request_duration_seconds", 'route="/graphql"', 5, [0.5, 0.4, 0.1, 0])
    lines.append(f'vision_http_requests_total{{route="/graphql",status="200"}} {t * HTTP_OK:.3f}')
    lines.append(f'vision_http_requests_total{{route="/graphql",status="500"}} {t * HTTP_5XX:.3f}')
    lines.append(f'vision_errors_total{{stage="extract",kind="decode"}} {t * 0.2:.3f}')
    lines.append(f'vision_consumer_lag{{topic="image-features-stream",group="classifier-fast"}} {int(t)}')
    return ("\n".join(lines) + "\n").encode()


class Exporter(BaseHTTPRequestHandler):
    def do_GET(self):
        body = exposition() if self.path == "/metrics" else b"not found\n"
        self.send_response(200 if self.path == "/metrics" else 404)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def query(base, expr):
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.load(r)["data"]["result"]


def main():
    prometheus = shutil.which("prometheus")
    if not prometheus:
        print("SKIPPED: no prometheus binary")
        return 0
    exporter = ThreadingHTTPServer(("127.0.0.1", 0), Exporter)
    threading.Thread(target=exporter.serve_forever, daemon=True).start()
    target = f"127.0.0.1:{exporter.server_address[1]}"

    work = Path(tempfile.mkdtemp())
    config = yaml.safe_load((DEPLOY / "prometheus/prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "vision")
    job.pop("dns_sd_configs")
    job["relabel_configs"] = []
    job["static_configs"] = [{"targets": [target], "labels": {"service": "api"}}]
    config["scrape_configs"] = [job]
    (work / "prometheus.yml").write_text(yaml.safe_dump(config))
    shutil.copy(DEPLOY / "prometheus/alerts.yml", work / "alerts.yml")

    # A free loopback port for Prometheus itself.
    probe = ThreadingHTTPServer(("127.0.0.1", 0), Exporter)
    port = probe.server_address[1]
    probe.server_close()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [prometheus, f"--config.file={work / 'prometheus.yml'}", f"--storage.tsdb.path={work / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=open(work / "prometheus.log", "w"))
    failures = []

    def check(ok, what):
        print(("ok    " if ok else "FAIL  ") + what)
        if not ok:
            failures.append(what)

    try:
        # Wait for 30 s of samples (rates over 20 s windows), 90 s at most.
        deadline = time.time() + 90
        while time.time() < deadline:
            try:
                if query(base, 'count_over_time(up{job="vision"}[1m])')[0]["value"][1] not in ("0",) \
                        and time.time() - START > 30:
                    break
            except Exception:
                pass
            time.sleep(1)
        dashboard = json.loads((DEPLOY / "grafana/dashboards/vision-overview.json").read_text())
        answers = {}
        for panel in dashboard["panels"]:
            if panel["type"] == "row":
                continue
            for t in panel["targets"]:
                result = query(base, t["expr"].replace("$__rate_interval", "20s"))
                answers[(panel["title"], t["refId"])] = result
                check(len(result) > 0, f"dashboard: '{panel['title']}' {t['refId']} returns {len(result)} series")

        def values(title, ref, label):
            return {s["metric"].get(label, ""): float(s["value"][1]) for s in answers[(title, ref)]}

        ingest = values("Images ingested / s by source", "A", "source")
        check(all(abs(ingest.get(s, 0) - r) < 0.2 * r for s, r in INGEST.items()),
              f"dashboard: images/s by source {ingest}")
        preds = values("Predictions / s per model", "A", "model")
        check(all(abs(preds.get(m, 0) - r) < 0.2 * r for m, r in PREDICTIONS.items()),
              f"dashboard: predictions/s per model {preds}")
        p95 = values("Inference latency p50 / p95 per model", "B", "model")
        check(p95.get("fast", 1) < 0.05 < p95.get("accurate", 0) < 0.5,
              f"dashboard: inference p95 per model {p95}")
        ratio = float(answers[("HTTP 5xx ratio", "A")][0]["value"][1])
        check(abs(ratio - HTTP_5XX / (HTTP_OK + HTTP_5XX)) < 0.005, f"dashboard: 5xx ratio {ratio:.4f}")
        lag = values("Consumer lag per topic and group", "A", "group")
        check(lag.get("classifier-fast", 0) > 0, f"dashboard: lag by group {lag}")

        with urllib.request.urlopen(f"{base}/api/v1/rules", timeout=5) as r:
            groups = json.load(r)["data"]["groups"]
        rules = [rule for g in groups for rule in g["rules"]]
        check(len(rules) == 7 and all(rule["health"] == "ok" for rule in rules),
              f"alerts: {len(rules)} rules loaded, all healthy")
        with urllib.request.urlopen(f"{base}/api/v1/alerts", timeout=5) as r:
            alerts = {(a["labels"]["alertname"], a["labels"].get("service")) for a in json.load(r)["data"]["alerts"]}
        check(("VisionHighHttpErrorRate", None) in alerts, "alerts: 2 % of 5xx raises VisionHighHttpErrorRate")
        check(("VisionServiceAbsent", "recorder") in alerts and ("VisionServiceAbsent", "api") not in alerts,
              "alerts: VisionServiceAbsent for the services with no target, not for api")
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        exporter.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    print(f"{len(failures)} failed" if failures else "live Prometheus checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
