"""The chart's operator extras, rendered by Helm's own engine like tests/deploy/test_helm.py:
the Grafana dashboard ConfigMap and the PrometheusRule (off by default, on by value), the
`helm test` Pod that checks /readyz, and the chart README generated from values.yaml.

On and off: lint --strict finds nothing and every built-in object is valid Kubernetes (the
PrometheusRule is the Prometheus Operator's CRD, so its shape is asserted). Every `ksmc_` metric
the dashboard and the alerts query is one bot/metrics.py really exposes, so a renamed metric
cannot leave an empty panel or an alert that never fires.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from test_helm import (
    CHART,
    FULLNAME,
    KUBE_VERSIONS,
    MINIMAL,
    NAMESPACE,
    VALUE_SETS,
    kinds,
    one,
    render,
)

import bot.metrics  # noqa: F401  (registers the bot's metrics in REGISTRY)

try:  # as tests/deploy/test_helm.py (whose import above has skipped this module already)
    import helm_python as helm
    import kubernetes_validate  # type: ignore[import-untyped]
except ImportError as e:  # pragma: no cover - the dev extra installs both
    pytest.skip(
        f"{e.name} is not installed: the dev extra needs helm-python-sdk and kubernetes-validate",
        allow_module_level=True,
    )

ROOT = Path(__file__).resolve().parents[2]
OBSERVED = {
    **MINIMAL,
    "metrics": {
        "serviceMonitor": {"enabled": True},
        "grafanaDashboard": {"enabled": True, "annotations": {"grafana_folder": "ChatOps"}},
        "prometheusRule": {"enabled": True, "labels": {"release": "prometheus"}, "for": "10m"},
    },
}
SETS: dict[str, dict[str, Any]] = {"on": OBSERVED, "off": MINIMAL}


def exposed_names() -> set[str]:
    """Every series name the bot's registry can expose (counters' _total, histograms' parts)."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
    return {
        family.name + suffix
        for family in REGISTRY.collect()
        if family.name.startswith("ksmc_")
        for suffix in suffixes.get(family.type, ("",))
    }


def queried_names(text: str) -> set[str]:
    return set(re.findall(r"\bksmc_[a-z_]+", text))


@pytest.mark.parametrize("version", KUBE_VERSIONS)
@pytest.mark.parametrize("name", SETS)
def test_lint_and_kubernetes_schemas_on_and_off(name: str, version: str) -> None:
    report = helm.lint(
        CHART, SETS[name], strict=True, namespace=NAMESPACE, kube_version=f"v{version}"
    )
    assert [m for m in report["messages"] if m["severity"] >= 2] == [] and not report["errors"]
    for doc in render(SETS[name]):
        if doc["apiVersion"] == "monitoring.coreos.com/v1":
            assert doc["kind"] in ("ServiceMonitor", "PrometheusRule")
            continue
        kubernetes_validate.validate(doc, version, strict=True)


def test_off_by_default() -> None:
    docs = render(MINIMAL)
    assert not kinds(docs, "PrometheusRule")
    assert [c["metadata"]["name"] for c in kinds(docs, "ConfigMap")] == [FULLNAME]


def test_dashboard_configmap_is_found_by_the_sidecar_and_queries_real_metrics() -> None:
    (dashboard,) = [
        c
        for c in kinds(render(OBSERVED), "ConfigMap")
        if c["metadata"]["name"].endswith("-dashboard")
    ]
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert dashboard["metadata"]["annotations"] == {"grafana_folder": "ChatOps"}
    model = json.loads(dashboard["data"]["ksmc-bot.json"])
    assert model["uid"] == "ksmc-bot" and model["panels"]
    queries = " ".join(t["expr"] for p in model["panels"] for t in p["targets"])
    assert queried_names(queries) <= exposed_names()
    for wanted in ("ksmc_ack_latency_seconds_bucket", "ksmc_step_duration_seconds_bucket"):
        assert wanted in queries


def test_prometheus_rule_alerts_on_this_release_with_real_metrics() -> None:
    rule = one(render(OBSERVED), "PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "prometheus"
    alerts = {r["alert"]: r for group in rule["spec"]["groups"] for r in group["rules"]}
    assert set(alerts) == {"KsmcBotNoLeader", "KsmcBotMigrationFailed", "KsmcBotStepStuck"}
    for alert in alerts.values():
        assert f'job="{FULLNAME}", namespace="{NAMESPACE}"' in alert["expr"]
        assert queried_names(alert["expr"]) <= exposed_names()
        assert alert["labels"]["severity"] in ("warning", "critical")
    assert alerts["KsmcBotNoLeader"]["for"] == "10m"
    assert "absent(ksmc_leader" in alerts["KsmcBotNoLeader"]["expr"]
    assert "ksmc_step_deadline_timestamp_seconds" in alerts["KsmcBotStepStuck"]["expr"]
    # Prometheus, not Helm, fills these in: they must survive rendering
    assert "{{ $labels.request_id }}" in alerts["KsmcBotStepStuck"]["annotations"]["description"]


def test_helm_test_pod_checks_readyz_through_the_service() -> None:
    docs = render(MINIMAL)
    pod = one(docs, "Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    spec = pod["spec"]
    assert spec["restartPolicy"] == "Never" and spec["automountServiceAccountToken"] is False
    (container,) = spec["containers"]
    port = one(docs, "Service")["spec"]["ports"][0]["port"]
    assert f"http://{FULLNAME}:{port}/readyz" in container["command"][-1]
    assert (
        container["image"]
        == one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["image"]
    )
    context = container["securityContext"]
    assert context["runAsNonRoot"] and context["readOnlyRootFilesystem"]
    assert context["capabilities"]["drop"] == ["ALL"]
    # Socket Mode without metrics has no Service to test through: no test Pod either
    assert not kinds(render(VALUE_SETS["socket"]), "Pod")


def test_log_format_reaches_the_environment() -> None:
    data = next(
        c["data"]
        for c in kinds(render({**MINIMAL, "logFormat": "json"}), "ConfigMap")
        if c["metadata"]["name"] == FULLNAME
    )
    assert data["KSMC_LOG_FORMAT"] == "json"


def test_chart_readme_is_generated_from_values() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "chart_readme.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    readme = (CHART / "README.md").read_text()
    assert "| metrics.prometheusRule.enabled | bool | `false` |" in readme
    assert "| replicaCount | int | `1` | Number of bot replicas." in readme
