"""KubeSphere 3.x configuration as ks-installer renders it, and the ks-apiserver endpoints we fake.

The installer turns the ClusterConfiguration `kubesphere-system/ks-installer` into the
`kubesphere-config` ConfigMap; ks-apiserver answers `/kapis/version` and `configz` from it through
the kube-apiserver service proxy, which is how a host (and ksmc-bot) reads a member; the import
validation (`clusters/validation`) is served the same way, on the host.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import yaml

from k8s.sim import yamltext
from k8s.sim.resources import CLUSTERCONFIGURATIONS, CONFIGMAPS, NAMESPACES
from k8s.sim.store import meta

if TYPE_CHECKING:
    from k8s.sim.world import SimCluster

Obj = dict[str, Any]

KS_NS = "kubesphere-system"
KS_CONFIG = "kubesphere-config"
KS_INSTALLER = "ks-installer"
VALIDATION = "/kapis/cluster.kubesphere.io/v1alpha1/clusters/validation"

# cc spec key → kubesphere.yaml section (the components configz reports)
COMPONENT_SECTIONS = {
    "devops": "devops",
    "logging": "logging",
    "events": "events",
    "auditing": "auditing",
    "alerting": "alerting",
    "servicemesh": "servicemesh",
    "edgeruntime": "edgeruntime",
    "metering": "metering",
    "notification": "notification",
    "gateway": "gateway",
}


def _enabled(spec: Obj, key: str) -> bool:
    value = spec.get(key)
    return isinstance(value, dict) and bool(value.get("enabled"))


def render_config(cc: Obj, jwt_secret: str, cluster_name: str | None) -> Obj:
    """kubesphere.yaml as ks-installer renders it from a ClusterConfiguration spec."""
    spec = cc.get("spec") or {}
    mc = spec.get("multicluster") or {}
    role = str(mc.get("clusterRole") or "none")
    config: Obj = {
        "authentication": {"jwtSecret": jwt_secret},
        "authorization": {"mode": "RBAC"},
        "kubernetes": {"kubeconfig": ""},
        "monitoring": {"endpoint": "http://prometheus-operated.kubesphere-monitoring-system:9090"},
    }
    multicluster: Obj = {"clusterRole": role}
    if role == "host":
        multicluster["enable"] = True
        multicluster["hostClusterName"] = mc.get("hostClusterName") or "host"
    elif role == "member":
        multicluster["enable"] = False
        config["authentication"]["oauthOptions"] = {"accessTokenMaxAge": 0}
    if cluster_name:
        multicluster["clusterName"] = cluster_name
    config["multicluster"] = multicluster
    for key, section in COMPONENT_SECTIONS.items():
        if _enabled(spec, key):
            config[section] = {"enabled": True}
    store = (spec.get("openpitrix") or {}).get("store") or {}
    config["openpitrix"] = {"store": {"enabled": bool(store.get("enabled"))}}
    network = spec.get("network") or {}
    if (network.get("networkpolicy") or {}).get("enabled"):
        config["network"] = {"enableNetworkPolicy": True}
    return config


def read_config(cluster: SimCluster) -> Obj | None:
    cm = cluster.store.peek(CONFIGMAPS, KS_NS, KS_CONFIG)
    if cm is None:
        return None
    try:
        parsed = yamltext.parse((cm.get("data") or {}).get("kubesphere.yaml") or "")
    except yaml.YAMLError:
        return None
    return parsed if isinstance(parsed, dict) else None


def version(cluster: SimCluster) -> str | None:
    if cluster.flavor == "v4":
        return "v4.1.3" if read_config(cluster) is not None else None
    cc = cluster.store.peek(CLUSTERCONFIGURATIONS, KS_NS, KS_INSTALLER)
    if cc is None:
        return None
    return str((meta(cc).get("labels") or {}).get("version") or "v3.4.1")


def configz(config: Obj) -> dict[str, bool]:
    """Config.ToMap(): one bool per non-empty section, with KubeSphere's special keys."""
    out: dict[str, bool] = {}
    for section in (
        "devops",
        "servicemesh",
        "logging",
        "events",
        "auditing",
        "alerting",
        "notification",
        "edgeruntime",
        "metering",
        "gateway",
        "kubernetes",
        "authentication",
        "authorization",
        "monitoring",
    ):
        out[section] = bool(config.get(section))
    out["openpitrix"] = True
    out["openpitrix.appstore"] = bool(
        ((config.get("openpitrix") or {}).get("store") or {}).get("enabled")
    )
    out["network"] = bool((config.get("network") or {}).get("enableNetworkPolicy"))
    out["multicluster"] = bool((config.get("multicluster") or {}).get("enable"))
    return out


def service_proxy(
    cluster: SimCluster, namespace: str, service: str, rest: str, method: str, body: bytes = b""
) -> tuple[int, Any]:
    """ks-apiserver behind the kube-apiserver service proxy: version, configz, and the import
    validation (`k8s/sim/validation.py`); anything else is 404 as from go-restful."""
    svc = service.split(":")[-2] if service.count(":") >= 1 else service
    if service.startswith("http:") or service.startswith("https:"):
        svc = service.split(":")[1]
    with cluster.world.lock:
        ns_exists = cluster.store.peek(NAMESPACES, "", namespace) is not None
        config = read_config(cluster) if namespace == KS_NS and svc == "ks-apiserver" else None
        ks_version = version(cluster)
    validating = rest.rstrip("/") == VALIDATION and method == "POST"
    if not ns_exists or config is None or (method != "GET" and not validating):
        return 404, {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": f'services "{svc}" not found',
            "reason": "NotFound",
            "details": {"name": svc, "kind": "services"},
            "code": 404,
        }
    if validating:
        from k8s.sim import validation

        return validation.validate(cluster, body)
    if rest.rstrip("/") == "/kapis/version":
        return 200, {
            "gitVersion": ks_version,
            "gitMajor": "3",
            "gitMinor": (ks_version or "v3.4").lstrip("v").split(".")[1],
            "kubernetes": {"gitVersion": cluster.kubernetes_version},
        }
    if rest.rstrip("/") == "/kapis/config.kubesphere.io/v1alpha2/configs/configz":
        return 200, configz(config)
    return 404, {"message": "404 page not found"}
