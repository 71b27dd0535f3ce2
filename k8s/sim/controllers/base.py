"""Small helpers the simulated controllers share: reading KubeSphere state and idempotent writes."""

from __future__ import annotations

import base64
import copy
from typing import TYPE_CHECKING, Any

from k8s.sim import errors, kubesphere
from k8s.sim.resources import CLUSTERS, KUBEFEDCLUSTERS, SECRETS, ResourceType
from k8s.sim.store import meta

if TYPE_CHECKING:
    from k8s.sim.world import SimCluster, World

Obj = dict[str, Any]

FEDERATION_NS = "kube-federation-system"
MANAGED = "kubefed.io/managed"
WORKSPACE_LABEL = "kubesphere.io/workspace"


def ks_config(cluster: SimCluster) -> Obj | None:
    return kubesphere.read_config(cluster)


def is_host(cluster: SimCluster) -> bool:
    """Host behaviour is switched by `multicluster.enable`, as in ks-controller-manager 3.x."""
    config = ks_config(cluster)
    return bool(config and (config.get("multicluster") or {}).get("enable"))


def has_kubesphere(cluster: SimCluster) -> bool:
    return ks_config(cluster) is not None


def ensure(cluster: SimCluster, rt: ResourceType, namespace: str, desired: Obj) -> Obj:
    """Create the object, or bring the given labels/annotations/spec/data onto the existing one."""
    name = desired["metadata"]["name"]
    cur = cluster.store.peek(rt, namespace, name)
    if cur is None:
        return cluster.store.create(rt, namespace, desired)
    new = copy.deepcopy(cur)
    for field in ("labels", "annotations"):
        if desired["metadata"].get(field):
            new["metadata"].setdefault(field, {}).update(desired["metadata"][field])
    if desired["metadata"].get("ownerReferences") is not None:
        new["metadata"]["ownerReferences"] = desired["metadata"]["ownerReferences"]
    for key, value in desired.items():
        if key not in ("metadata", "apiVersion", "kind", "status"):
            new[key] = value
    return replace(cluster, rt, cur, new)


def replace(cluster: SimCluster, rt: ResourceType, cur: Obj, new: Obj) -> Obj:
    """Write `new` if it differs from `cur` (the store skips no-op writes itself)."""
    if new == cur:
        return cur
    md = meta(cur)
    return cluster.store.update(rt, md.get("namespace", ""), md["name"], new)


def delete_if_present(
    cluster: SimCluster, rt: ResourceType, namespace: str, name: str, policy: str = "Background"
) -> None:
    if cluster.store.peek(rt, namespace, name) is not None:
        try:
            cluster.store.delete(rt, namespace, name, {"propagationPolicy": policy})
        except errors.ApiError as e:
            if e.code != 404:
                raise


def remove_finalizer(cluster: SimCluster, rt: ResourceType, obj: Obj, finalizer: str) -> None:
    if finalizer not in (meta(obj).get("finalizers") or []):
        return
    new = copy.deepcopy(obj)
    new["metadata"]["finalizers"] = [f for f in new["metadata"]["finalizers"] if f != finalizer]
    replace(cluster, rt, obj, new)


def add_finalizer(cluster: SimCluster, rt: ResourceType, obj: Obj, finalizer: str) -> Obj:
    if finalizer in (meta(obj).get("finalizers") or []) or meta(obj).get("deletionTimestamp"):
        return obj
    new = copy.deepcopy(obj)
    new["metadata"].setdefault("finalizers", []).append(finalizer)
    return replace(cluster, rt, obj, new)


def set_condition(status: Obj, ctype: str, value: bool, reason: str, message: str) -> None:
    conditions = status.setdefault("conditions", [])
    text = "True" if value else "False"
    for cond in conditions:
        if cond.get("type") == ctype:
            if cond.get("status") != text or cond.get("message") != message:
                cond.update(
                    status=text,
                    reason=reason,
                    message=message,
                    lastTransitionTime=_now(),
                    lastUpdateTime=_now(),
                )
            return
    conditions.append(
        {
            "type": ctype,
            "status": text,
            "reason": reason,
            "message": message,
            "lastTransitionTime": _now(),
            "lastUpdateTime": _now(),
        }
    )


def _now() -> str:
    from k8s.sim.store import now_rfc3339

    return now_rfc3339()


def kubeconfig_server(cluster_obj: Obj) -> str | None:
    """The API server URL in a Cluster's base64 kubeconfig (what the host would dial)."""
    from k8s.sim import clientcmd

    conn = (cluster_obj.get("spec") or {}).get("connection") or {}
    raw = conn.get("kubeconfig")
    if not raw:
        return None
    try:
        return clientcmd.load(clientcmd.decode(raw)).host
    except clientcmd.ConfigError:
        return None


def joined_members(world: World, host: SimCluster) -> dict[str, SimCluster]:
    """Members KubeFed can reach from this host: a KubeFedCluster exists, its endpoint answers
    from the host's network position and the token in `<name>-secret` is accepted there."""
    from k8s.sim import auth, network

    out: dict[str, SimCluster] = {}
    for cl in host.store.iter(CLUSTERS):
        name = meta(cl)["name"]
        if "cluster-role.kubesphere.io/host" in (meta(cl).get("labels") or {}):
            out[name] = host
            continue
        kfc = host.store.peek(KUBEFEDCLUSTERS, FEDERATION_NS, name)
        if kfc is None:
            continue
        member, tunnelled = network.route(world, host, str(kfc["spec"].get("apiEndpoint", "")))
        if member is None:
            continue
        secret = host.store.peek(SECRETS, FEDERATION_NS, f"{name}-secret") or {}
        raw = (secret.get("data") or {}).get("token") or ""
        try:
            token = base64.b64decode(raw).decode()
        except (ValueError, UnicodeDecodeError):
            token = ""
        if tunnelled or auth.valid_token(member, token):
            out[name] = member
    return out
