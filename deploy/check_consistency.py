#!/usr/bin/env python3
"""Cross-checks the deployment files against each other and against the Rust sources.

    python3 deploy/check_consistency.py [RENDERED_K8S_YAML]

RENDERED_K8S_YAML is the output of `kubectl kustomize deploy/k8s` (deploy/validate.sh passes
it); without it the k8s checks are skipped. Needs PyYAML (and jsonschema for the KEDA check).
Prints one line per check and exits 1 if any fails. Lines marked PENDING name what the files
rely on that the Rust sources do not show yet (environment variables read, metric families
registered); they fail the run only with VISION_DEPLOY_STRICT=1.
"""

import json
import os
import re
import sys
from pathlib import Path

import yaml

DEPLOY = Path(__file__).resolve().parent
ROOT = DEPLOY.parent

# The interface the files deploy (deploy/README.md, "What the Rust side must provide").
TOPICS = [
    "images-input-stream",
    "image-features-stream",
    "predictions-output-stream",
    "pipeline-events",
    "dead-letter",
    "model-events",
]
METRICS = {
    "vision_http_requests_total",
    "vision_http_request_duration_seconds",
    "vision_predictions_total",
    "vision_inference_duration_seconds",
    "vision_errors_total",
    "vision_consumer_lag",
    "vision_images_accepted_total",
    "vision_images_rejected_total",
    "vision_job_runs_total",
    "vision_data_quality_findings",
    "vision_pipeline_backlog",
}
# The heads of the shipped bundle (one classifier deployment per head name).
MODELS = list(dict.fromkeys(
    m["name"] for m in json.loads((ROOT / "models/manifest.json").read_text())["models"]
    if m["role"] == "classifier"
))
K8S_PARTITIONS = 6
COMPOSE_PARTITIONS = 3
SECRET_ENV = {"DATABASE_URL", "S3_ACCESS_KEY", "S3_SECRET_KEY"}

failures = []
pending = []


def check(ok, what):
    print(("ok    " if ok else "FAIL  ") + what)
    if not ok:
        failures.append(what)


def wait_for(ok, what):
    """A requirement on the Rust side: reported, and a failure only in strict mode."""
    if ok:
        print("ok    " + what)
    else:
        print("PENDING " + what)
        pending.append(what)


def vision_stage(args):
    """(stage name, consumer group) of a `vision` command line."""
    if args[:1] == ["api"]:
        return "api", None
    if args[:2] == ["worker", "extractor"]:
        return "extractor", "extractor"
    if args[:2] == ["worker", "recorder"]:
        return "recorder", "recorder"
    if args[:2] == ["worker", "classifier"] and "--model" in args:
        model = args[args.index("--model") + 1]
        return f"classifier-{model}", f"classifier-{model}"
    raise ValueError(f"unknown vision command {args}")


def rust_sources():
    """Topic names and consumer groups as the Rust code spells them: the typed topics of
    workers/core and the stage table's groups (a group per head is expanded with the shipped
    bundle's head names)."""
    found = {}
    topics = ROOT / "workers/core/src/bus/topics.rs"
    found["topics"] = re.findall(r'Topic::new\("([a-z-]+)"\)', topics.read_text())
    table = (ROOT / "workers/core/src/stage/table.rs").read_text()
    groups = set(re.findall(r'Group::Shared\("([a-z-]+)"\)', table))
    for prefix in re.findall(r'Group::PerHead\("([a-z-]+)"\)', table):
        groups.update(f"{prefix}-{m}" for m in MODELS)
    found["groups"] = groups
    return found


def compose_checks():
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = compose["services"]
    env = compose["x-vision-env"]
    vision = {n: s for n, s in services.items() if s.get("image") == "vision:latest"}
    check(set(vision) == {"api", "extractor", "recorder", *(f"classifier-{m}" for m in MODELS)},
          f"compose: vision services are api, extractor, 3 classifiers, recorder ({sorted(vision)})")
    for name, svc in vision.items():
        stage, _ = vision_stage(svc["command"])
        check(stage == name, f"compose: {name} runs `vision {' '.join(svc['command'])}`")
        check(svc["environment"] == env, f"compose: {name} gets the shared x-vision-env")
        check(svc["healthcheck"]["test"] == ["CMD", "vision-probe", "/ready"],
              f"compose: {name} health check is /ready")
        check(svc.get("build", {}).get("context") == "..", f"compose: {name} builds ../Dockerfile")
        check("memory" in svc.get("deploy", {}).get("resources", {}).get("limits", {}),
              f"compose: {name} has a memory limit")
        for dep, cond in svc.get("depends_on", {}).items():
            check(dep in services, f"compose: {name} depends on existing service {dep}")
            want = ("service_completed_successfully" if dep.endswith("-init")
                    else "service_healthy")
            check(cond["condition"] == want, f"compose: {name} waits for {dep} ({want})")
        replicas = svc.get("deploy", {}).get("replicas", 1)
        check(replicas <= COMPOSE_PARTITIONS,
              f"compose: {name} replicas ({replicas}) <= partitions ({COMPOSE_PARTITIONS})")
    check(vision["classifier-fast"]["deploy"].get("replicas") == 2,
          "compose: classifier-fast runs 2 replicas")
    check(env["VISION_ADDR"].endswith(":8080"), "compose: VISION_ADDR port 8080")
    check(vision["api"]["ports"] == ["${VISION_PORT:-8080}:8080"], "compose: api publishes 8080")
    init = services["kafka-init"]["environment"]
    check(init["TOPICS"].split() == TOPICS, "compose: kafka-init creates the six topics")
    check(str(init["PARTITIONS"]) == f"${{KAFKA_PARTITIONS:-{COMPOSE_PARTITIONS}}}",
          f"compose: kafka-init partitions default {COMPOSE_PARTITIONS}")
    check(any("create-topics.sh" in v for v in services["kafka-init"]["volumes"]),
          "compose: kafka-init runs the shared create-topics.sh")
    check(services["minio-init"]["depends_on"]["minio"]["condition"] == "service_healthy",
          "compose: minio-init waits for a healthy minio")
    for svc in ("postgres", "minio", "redis", "kafka", "prometheus", "grafana"):
        check("healthcheck" in services[svc], f"compose: {svc} has a health check")
    return compose, env


def prometheus_checks(compose):
    prom = yaml.safe_load((DEPLOY / "prometheus/prometheus.yml").read_text())
    vision_job = next(j for j in prom["scrape_configs"] if j["job_name"] == "vision")
    names = vision_job["dns_sd_configs"][0]["names"]
    vision = [n for n, s in compose["services"].items() if s.get("image") == "vision:latest"]
    check(sorted(names) == sorted(vision), "prometheus: scrapes every vision service")
    check(vision_job["dns_sd_configs"][0]["port"] == 8080, "prometheus: scrapes port 8080")
    alerts = (DEPLOY / "prometheus/alerts.yml").read_text()
    used = set(re.findall(r"\b(vision_[a-z_]+?)(?:_bucket)?\b", alerts))
    check(used <= METRICS, f"alerts: only the agreed metrics ({sorted(used - METRICS)} unknown)")
    for svc in vision:
        check(f'service="{svc}"' in alerts, f"alerts: VisionServiceAbsent covers {svc}")
    for name in ("HighHttpErrorRate", "HighLatencyP95", "ConsumerLagGrowing", "TargetDown"):
        check(f"alert: Vision{name}" in alerts, f"alerts: Vision{name} exists")


def grafana_checks():
    datasource = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text())["datasources"][0]
    check(datasource["url"] == "http://prometheus:9090", "grafana: datasource is the compose Prometheus")
    provider = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/dashboards/vision.yml").read_text())["providers"][0]
    check(provider["options"]["path"] == "/etc/grafana/dashboards", "grafana: provider path is mounted")
    dash = json.loads((DEPLOY / "grafana/dashboards/vision-overview.json").read_text())
    panels = [p for p in dash["panels"] if p["type"] != "row"]
    ids = [p["id"] for p in dash["panels"]]
    check(len(ids) == len(set(ids)), "grafana: unique panel ids")
    cells = {}
    overlap = []
    for p in dash["panels"]:
        g = p["gridPos"]
        for y in range(g["y"], g["y"] + g["h"]):
            for x in range(g["x"], g["x"] + g["w"]):
                if (x, y) in cells:
                    overlap.append((p["title"], cells[(x, y)]))
                cells[(x, y)] = p["title"]
        if g["x"] + g["w"] > 24:
            overlap.append((p["title"], "right edge"))
    check(not overlap, f"grafana: panels do not overlap {overlap[:1]}")
    exprs = [t["expr"] for p in panels for t in p["targets"]]
    check(all(t["datasource"]["uid"] == datasource["uid"] for p in panels for t in p["targets"])
          and all(p["datasource"]["uid"] == datasource["uid"] for p in panels),
          "grafana: every panel uses the provisioned datasource uid")
    used = {m for e in exprs for m in re.findall(r"\b(vision_[a-z_]+?)(?:_bucket)?\b", e)}
    check(used == METRICS, f"grafana: uses exactly the agreed metrics (missing {sorted(METRICS - used)}, unknown {sorted(used - METRICS)})")
    titles = " | ".join(p["title"] for p in panels)
    for needle in ("Images ingested", "Predictions / s per model", "p50 / p95 per model",
                   "Consumer lag", "Errors", "HTTP requests", "HTTP latency"):
        check(needle in titles, f"grafana: a panel for '{needle}'")
    check(any("histogram_quantile(0.95" in e and "vision_inference_duration_seconds_bucket" in e for e in exprs),
          "grafana: inference p95 from histogram_quantile")


def k8s_checks(rendered_path, compose_env):
    docs = [d for d in yaml.safe_load_all(Path(rendered_path).read_text()) if d]
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
    check(all(d["metadata"].get("namespace", "vision") == "vision" for d in docs
              if d["kind"] != "Namespace"), "k8s: everything in namespace vision")
    config = by_kind["ConfigMap"]["vision-config"]["data"]
    secret = by_kind["Secret"]["vision-credentials"]["stringData"]
    check(set(config) | SECRET_ENV == set(compose_env),
          f"k8s: ConfigMap + secret env == compose x-vision-env "
          f"(only compose: {sorted(set(compose_env) - set(config) - SECRET_ENV)}, "
          f"only k8s: {sorted(set(config) - set(compose_env))})")
    for key in config:
        # Kubernetes requires API keys (admin-key-job.yaml); the local compose demo runs open.
        if key not in ("VISION_RUNTIME", "VISION_THREADS", "RUST_LOG", "S3_BUCKET", "S3_REGION",
                       "VISION_ALLOW_OPEN"):
            same = str(compose_env[key]) == config[key]
            check(same, f"k8s: {key} is the same as in compose ({config[key]})")
    deployments = by_kind["Deployment"]
    check(set(deployments) == {"api", "extractor", "recorder", *(f"classifier-{m}" for m in MODELS)},
          "k8s: Deployments api, extractor, 3 classifiers, recorder")
    check(deployments["api"]["spec"].get("replicas") == 2, "k8s: api runs 2 replicas")
    hpas = by_kind.get("HorizontalPodAutoscaler", {})
    for name, dep in deployments.items():
        pod = dep["spec"]["template"]["spec"]
        c = pod["containers"][0]
        stage, _ = vision_stage(c["args"])
        check(stage == name, f"k8s: {name} runs `vision {' '.join(c['args'])}`")
        check(c["image"] == "vision:latest", f"k8s: {name} image vision:latest")
        check(c["ports"][0]["containerPort"] == 8080, f"k8s: {name} port 8080")
        check(c["startupProbe"]["httpGet"]["path"] == "/ready"
              and c["readinessProbe"]["httpGet"]["path"] == "/ready"
              and c["livenessProbe"]["httpGet"]["path"] == "/metrics",
              f"k8s: {name} probes startup+readiness /ready, liveness /metrics")
        sc = c["securityContext"]
        check(pod["securityContext"]["runAsNonRoot"] and sc["readOnlyRootFilesystem"]
              and not sc["allowPrivilegeEscalation"], f"k8s: {name} non-root, read-only root")
        mounts = {m["mountPath"] for m in c["volumeMounts"]}
        check({"/tmp", config["VISION_DATA_DIR"]} <= mounts, f"k8s: {name} writable /tmp and data dir")
        check(set(c["resources"]["requests"]) == {"cpu", "memory"}
              and set(c["resources"]["limits"]) == {"cpu", "memory"}, f"k8s: {name} requests and limits")
        ann = dep["spec"]["template"]["metadata"]["annotations"]
        check(ann.get("prometheus.io/scrape") == "true" and ann.get("prometheus.io/port") == "8080",
              f"k8s: {name} scrape annotations")
        env = {e["name"]: e for e in c["env"]}
        check(SECRET_ENV <= set(env), f"k8s: {name} gets DATABASE_URL and S3 keys")
        check(env["DATABASE_URL"]["value"] == "postgres://vision:$(POSTGRES_PASSWORD)@postgres:5432/vision"
              and list(env).index("POSTGRES_PASSWORD") < list(env).index("DATABASE_URL"),
              f"k8s: {name} DATABASE_URL expands POSTGRES_PASSWORD defined before it")
        svc = by_kind["Service"].get(name)
        check(svc is not None and svc["spec"]["selector"].items() <= dep["spec"]["template"]["metadata"]["labels"].items(),
              f"k8s: Service {name} selects the pods of Deployment {name}")
        if name.startswith("classifier-"):
            hpa = hpas.get(name)
            check(hpa is not None and hpa["spec"]["scaleTargetRef"]["name"] == name
                  and hpa["spec"]["maxReplicas"] <= K8S_PARTITIONS and "replicas" not in dep["spec"],
                  f"k8s: HPA {name} (max <= {K8S_PARTITIONS} partitions; Deployment leaves replicas to it)")
    # Every secretKeyRef / configMapKeyRef names an existing key.
    refs_ok = True
    for d in docs:
        spec = d.get("spec", {})
        pod = spec.get("template", {}).get("spec")
        if not pod:
            continue
        for c in pod["containers"]:
            for e in c.get("env", []):
                ref = e.get("valueFrom", {})
                if "secretKeyRef" in ref:
                    r = ref["secretKeyRef"]
                    refs_ok &= r["name"] == "vision-credentials" and r["key"] in secret
                if "configMapKeyRef" in ref:
                    r = ref["configMapKeyRef"]
                    refs_ok &= r["key"] in by_kind["ConfigMap"][r["name"]]["data"]
        for v in pod.get("volumes", []):
            if "configMap" in v:
                refs_ok &= v["configMap"]["name"] in by_kind["ConfigMap"]
    check(refs_ok, "k8s: every secret/configMap reference resolves")
    keyjob = by_kind["Job"]["admin-key"]["spec"]["template"]["spec"]["containers"][0]
    check(keyjob["args"][:2] == ["keys", "create"] and "--if-none" in keyjob["args"]
          and "admin" in keyjob["args"],
          "k8s: admin-key Job creates the first admin key, only when none exists")
    check(config.get("VISION_ALLOW_OPEN") == "false", "k8s: keys required (VISION_ALLOW_OPEN=false)")
    job = by_kind["Job"]["kafka-topics"]["spec"]["template"]["spec"]["containers"][0]
    jenv = {e["name"]: e.get("value") for e in job["env"]}
    check(jenv["TOPICS"].split() == TOPICS, "k8s: kafka-topics Job creates the six topics")
    check(int(jenv["PARTITIONS"]) == K8S_PARTITIONS, f"k8s: topics get {K8S_PARTITIONS} partitions")
    script = by_kind["ConfigMap"]["vision-scripts"]["data"]["create-topics.sh"]
    check(script == (DEPLOY / "k8s/scripts/create-topics.sh").read_text(),
          "k8s: the Job's script is the one compose runs")
    ingress = by_kind["Ingress"]["vision"]
    check(ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] == "api"
          and "nginx.ingress.kubernetes.io/proxy-read-timeout" in ingress["metadata"]["annotations"],
          "k8s: Ingress -> api with a long proxy-read-timeout (WebSockets)")
    for name in ("postgres", "kafka", "minio", "redis"):
        sts = by_kind["StatefulSet"].get(name)
        check(sts is not None and sts["spec"].get("volumeClaimTemplates"), f"k8s: {name} StatefulSet with a PVC")
    keda_checks(deployments)


def keda_checks(deployments):
    try:
        import jsonschema
    except ImportError:
        check(True, "keda: skipped (no jsonschema)")
        return
    # The spec schema of KEDA's ScaledObject CRD (keda.sh/v1alpha1), strict.
    i32 = {"type": "integer"}
    trigger = {"type": "object", "additionalProperties": False, "required": ["metadata", "type"],
               "properties": {"authenticationRef": {"type": "object", "required": ["name"]},
                              "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
                              "metricType": {"enum": ["Value", "AverageValue", "Utilization"]},
                              "name": {"type": "string"}, "type": {"type": "string"},
                              "useCachedMetrics": {"type": "boolean"}}}
    schema = {"type": "object", "additionalProperties": False,
              "required": ["apiVersion", "kind", "metadata", "spec"],
              "properties": {
                  "apiVersion": {"const": "keda.sh/v1alpha1"}, "kind": {"const": "ScaledObject"},
                  "metadata": {"type": "object", "required": ["name"]},
                  "spec": {"type": "object", "additionalProperties": False,
                           "required": ["scaleTargetRef", "triggers"],
                           "properties": {
                               "advanced": {"type": "object"}, "fallback": {"type": "object"},
                               "cooldownPeriod": i32, "idleReplicaCount": i32,
                               "initialCooldownPeriod": i32, "maxReplicaCount": i32,
                               "minReplicaCount": i32, "pollingInterval": i32,
                               "scaleTargetRef": {"type": "object", "required": ["name"],
                                                  "additionalProperties": False,
                                                  "properties": {k: {"type": "string"} for k in
                                                                 ("apiVersion", "envSourceContainerName", "kind", "name")}},
                               "triggers": {"type": "array", "minItems": 1, "items": trigger}}}}}
    for d in yaml.safe_load_all((DEPLOY / "k8s/keda-scaledobject.yaml").read_text()):
        name = d["metadata"]["name"]
        try:
            jsonschema.validate(d, schema)
            valid = True
        except jsonschema.ValidationError as e:
            valid = False
            print("      ", e.message)
        check(valid, f"keda: ScaledObject {name} matches the CRD schema")
        target = deployments.get(d["spec"]["scaleTargetRef"]["name"])
        kafka = next(t for t in d["spec"]["triggers"] if t["type"] == "kafka")["metadata"]
        _, group = vision_stage(target["spec"]["template"]["spec"]["containers"][0]["args"])
        topic = "images-input-stream" if group == "extractor" else "image-features-stream"
        check(kafka["consumerGroup"] == group and kafka["topic"] == topic
              and d["spec"]["maxReplicaCount"] <= K8S_PARTITIONS,
              f"keda: {name} scales on group {group} / {topic}, max <= partitions")


def rust_interface_checks(env):
    """What the Rust sources read and expose, against what the files set and scrape."""
    sources = ""
    for path in list((ROOT / "api/src").rglob("*.rs")) + list((ROOT / "workers").rglob("src/**/*.rs")):
        sources += path.read_text(errors="replace")
    if not sources:
        return
    for name in sorted(set(env) | {"ORT_DYLIB_PATH"}):
        # RUST_LOG is read by tracing-subscriber's EnvFilter::*from_default_env.
        read = f'"{name}"' in sources or (name == "RUST_LOG" and "from_default_env" in sources)
        wait_for(read, f"rust: reads {name}")
    metrics_rs = ROOT / "workers/core/src/metrics.rs"
    registered = set(re.findall(r'"(vision_[a-z_]+)"', metrics_rs.read_text())) if metrics_rs.exists() else set()
    for metric in sorted(METRICS):
        wait_for(metric in registered, f"rust: registers metric {metric}")


def main():
    compose, env = compose_checks()
    prometheus_checks(compose)
    grafana_checks()
    script = (DEPLOY / "k8s/scripts/create-topics.sh").read_text()
    check(" ".join(TOPICS) in script, "create-topics.sh: default topic list is the six topics")
    rust = rust_sources()
    check(sorted(rust["topics"]) == sorted(TOPICS),
          f"rust: workers/core topics == deployed topics ({rust['topics']})")
    want = {"extractor", "recorder", *(f"classifier-{m}" for m in MODELS)}
    check(want == rust["groups"], f"rust: the stage table's consumer groups {sorted(rust['groups'])}")
    rust_interface_checks(env)
    dockerfile = (ROOT / "Dockerfile").read_text()
    for needle in ('ENTRYPOINT ["vision"]', 'CMD ["serve"]', "VISION_ADDR=0.0.0.0:8080",
                   "VISION_MODELS_DIR=/app/models", "VISION_FRONTEND_DIR=/app/frontend/dist",
                   "VISION_DATA_DIR=/var/lib/vision", 'CMD ["vision-probe", "/ready"]',
                   "cargo build --release --locked -p vision-api --bin vision"):
        check(needle in dockerfile, f"Dockerfile: {needle}")
    if len(sys.argv) > 1:
        k8s_checks(sys.argv[1], env)
    strict = os.environ.get("VISION_DEPLOY_STRICT") == "1"
    if pending:
        print(f"{len(pending)} pending on the Rust side" + (" (strict: failing)" if strict else ""))
    print(f"{len(failures)} failed" if failures else "all consistency checks passed")
    return 1 if failures or (strict and pending) else 0


if __name__ == "__main__":
    sys.exit(main())
