"""Read clusters into `ClusterFacts`: the only I/O that preflight and planning depend on.

Each cluster is read with independent requests in parallel, and several clusters at once, each
within its own time budget, so a dead or slow cluster yields `reachable=False` instead of
holding up the others. Missing KubeSphere types (CRD absent, a 4.x cluster) read as "none".
The jwtSecret is reduced to a fingerprint inside the one function that sees it.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import yaml

from k8s.access import ClusterApi
from k8s.access.transport import Obj
from k8s.errors import ClusterError, Forbidden, NotFound, Unreachable
from k8s.facts import (
    ClusterFacts,
)
from k8s.kinds import (
    CLUSTER_CONFIGURATIONS,
    CLUSTERS,
    FEDERATED_TYPES,
    FEDERATED_WORKSPACES,
    HELM_RELEASES,
    INSTALL_PLANS,
    KUBEFED_CLUSTERS,
    USERS,
    WORKSPACE_ROLE_BINDINGS,
    WORKSPACE_TEMPLATES,
    WORKSPACES,
    CustomResource,
)
from k8s.parse import (
    LABEL_KUBEFED_MANAGED,
    cluster_object_info,
    dig,
    federated_objects,
    federated_workspace_info,
    federation_leftovers,
    labels_of,
    managed_objects,
    name_of,
    namespace_info,
    release_info,
    role_binding_info,
    template_info,
    text,
    workspace_info,
)
from k8s.registry import ClusterRegistry

T = TypeVar("T")

KS_NAMESPACE = "kubesphere-system"
KS_CONFIG = "kubesphere-config"
KS_INSTALLER = "ks-installer"
KS_APISERVER = "ks-apiserver:80"
FEDERATION_NAMESPACE = "kube-federation-system"
V4_GROUP = "kubesphere.io"
# ClusterConfiguration spec keys whose `.enabled` is a pluggable component
COMPONENT_KEYS = (
    *("alerting", "auditing", "devops", "edgeruntime", "events", "gateway"),
    *("logging", "metering", "notification", "servicemesh"),
)
# the dedicated credential ksmc-bot makes on a member for each host (k8s/credentials.py)
LABEL_CREDENTIAL_HOST = "ksmc.io/for-host"


@dataclass(frozen=True)
class _KsConfig:
    """What ksmc-bot keeps of `kubesphere.yaml` (never the jwtSecret itself)."""

    role: str | None = None
    enabled: bool = False
    cluster_name: str | None = None
    jwt_fingerprint: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class _Installer:
    """What ksmc-bot keeps of the ks-installer ClusterConfiguration."""

    version: str | None
    components: tuple[tuple[str, bool], ...]


def gather_all(
    registry: ClusterRegistry,
    names: Iterable[str],
    timeout_per_cluster: float = 20.0,
    slots: threading.Semaphore | None = None,
) -> dict[str, ClusterFacts]:
    """Facts for every name, read concurrently; each cluster gets `timeout_per_cluster` seconds.

    A cluster that is unknown, unreachable or too slow gets `reachable=False` and an error;
    the call returns after at most about `timeout_per_cluster` whatever the clusters do. With
    `slots`, each cluster's read holds one slot for as long as it really runs (past this call's
    return, when a read outlives its budget), and waiting for a slot counts against its budget:
    the caller's cap on reads in flight holds however many callers there are.
    """
    wanted = list(dict.fromkeys(names))
    facts: dict[str, ClusterFacts] = {}
    futures: dict[str, Future[ClusterFacts]] = {}
    pool = ThreadPoolExecutor(max_workers=max(len(wanted), 1), thread_name_prefix="gather")
    try:
        for name in wanted:
            try:
                api = registry.api(name)
            except ClusterError as e:
                facts[name] = ClusterFacts(name, reachable=False, error=e.message)
                continue
            deadline = api.settings.retrier.clock() + timeout_per_cluster
            read = api.with_deadline(deadline)
            if slots is None:
                futures[name] = pool.submit(gather, read)
            else:
                futures[name] = pool.submit(_gather_in_slot, read, slots, timeout_per_cluster)
        wait(futures.values(), timeout=timeout_per_cluster)
        for name, future in futures.items():
            if not future.done():
                error = f"{name} did not answer within {timeout_per_cluster:g}s"
                facts[name] = ClusterFacts(name, reachable=False, error=error)
            elif future.exception() is not None:
                # gather() handles ClusterErrors itself: this is a bug, reported by type only
                kind = type(future.exception()).__name__
                error = f"{name}: its facts could not be read ({kind})"
                facts[name] = ClusterFacts(name, reachable=False, error=error)
            else:
                facts[name] = future.result()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return {name: facts[name] for name in wanted}


def _gather_in_slot(api: ClusterApi, slots: threading.Semaphore, wait: float) -> ClusterFacts:
    """`gather` once one of `slots` is free (within `wait` seconds), then releasing it."""
    if not slots.acquire(timeout=wait):
        why = f"{api.name} was not read: every cluster read slot stayed busy for {wait:g}s"
        return ClusterFacts(api.name, reachable=False, error=why)
    try:
        return gather(api)
    finally:
        slots.release()


def gather(api: ClusterApi, workers: int = 8) -> ClusterFacts:
    """Everything the bot needs to know about one cluster. Never raises `ClusterError`:
    `reachable=False` when the cluster cannot be read at all, and `error` set when some
    part could not be read (the facts are then incomplete and must not be acted on)."""
    reads: dict[str, Callable[[], Any]] = {
        "version": api.version,
        "kube-system": lambda: api.get_namespace("kube-system"),
        "nodes": lambda: _unless(Forbidden, api.count_nodes),
        "config": lambda: _kubesphere_config(api),
        "installer": lambda: _installer(api),
        "groups": api.api_groups,
        "namespaces": api.list_namespaces,
        "workspaces": lambda: _list_kind(api, WORKSPACES),
        "workspace templates": lambda: _list_kind(api, WORKSPACE_TEMPLATES),
        "federated workspaces": lambda: _list_kind(api, FEDERATED_WORKSPACES),
        "clusters": lambda: _list_kind(api, CLUSTERS),
        "users": lambda: _list_kind(api, USERS),
        "workspace role bindings": lambda: _list_kind(api, WORKSPACE_ROLE_BINDINGS),
        "federation accounts": lambda: _unless(
            NotFound, lambda: api.list_service_accounts(FEDERATION_NAMESPACE)
        ),
        "kubefed clusters": lambda: _list_kind(api, KUBEFED_CLUSTERS),
        "releases": lambda: _list_kind(api, HELM_RELEASES),
        "credentials": lambda: _unless(
            NotFound,
            lambda: api.list_service_accounts(KS_NAMESPACE, label_selector=LABEL_CREDENTIAL_HOST),
        ),
    }
    for kind, (fed, target) in FEDERATED_TYPES.items():
        if kind == "Workspace":
            continue  # read above as "federated workspaces"; namespaces are read as namespaces
        reads[f"federated {kind}"] = functools.partial(_list_kind, api, fed)
        if target is not None and target not in (USERS, WORKSPACE_ROLE_BINDINGS):
            reads[f"managed {kind}"] = functools.partial(_list_managed, api, target)
    got, failed = _run_all(reads, workers)
    essential = [failed[k] for k in ("version", "kube-system") if k in failed]
    unreachable = [e for e in failed.values() if isinstance(e, Unreachable)]
    if essential or unreachable:
        return ClusterFacts(api.name, reachable=False, error=(unreachable or essential)[0].message)

    config: _KsConfig | None = got.get("config")
    installer: _Installer | None = got.get("installer")
    ks_version, ks_major = (installer.version, 3) if installer else (None, None)
    components = installer.components if installer else ()
    if V4_GROUP in (got.get("groups") or {}):
        ks_major = 4
        ks_version = _ks_apiserver_version(api) or "v4"
        components = _extensions(api, failed)
    elif ks_version is None and config is not None:
        ks_version = _ks_apiserver_version(api)
        ks_major = _major(ks_version)
    problems = [f"{what}: {e.message}" for what, e in failed.items()]
    if config is not None and config.error:
        problems.append(config.error)

    namespaces = tuple(namespace_info(o) for o in got.get("namespaces") or [])
    facts = ClusterFacts(
        name=api.name,
        reachable=True,
        error="; ".join(problems) or None,
        kubernetes_version=text(got["version"].get("gitVersion")),
        kube_system_uid=text(dig(got["kube-system"], "metadata", "uid")),
        node_count=got.get("nodes"),
        ks_version=ks_version,
        ks_major=ks_major,
        cluster_role=config.role if config else None,
        # 3.x switches host behaviour with `multicluster.enable`, 4.x with the role itself
        multicluster_enabled=bool(config and (config.enabled or _v4_host(ks_major, config))),
        cluster_name=config.cluster_name if config else None,
        jwt_fingerprint=config.jwt_fingerprint if config else None,
        components=components,
        namespaces=namespaces,
        workspaces=tuple(workspace_info(o) for o in got.get("workspaces") or []),
        workspace_templates=tuple(template_info(o) for o in got.get("workspace templates") or []),
        federated_workspaces=tuple(
            federated_workspace_info(o) for o in got.get("federated workspaces") or []
        ),
        cluster_objects=tuple(cluster_object_info(o) for o in got.get("clusters") or []),
        users=tuple(sorted(name_of(o) for o in got.get("users") or [])),
        role_bindings=tuple(
            rb for o in got.get("workspace role bindings") or [] if (rb := role_binding_info(o))
        ),
    )
    facts = replace(
        facts,
        federated=federated_objects(got),
        kubefed_clusters=tuple(
            sorted(
                (name_of(o), tuple(sorted(labels_of(o).items()))) for o in got["kubefed clusters"]
            )
        )
        if got.get("kubefed clusters")
        else (),
        managed=managed_objects(got),
        releases=tuple(release_info(o) for o in got.get("releases") or []),
        host_credentials=tuple(
            sorted(
                labels_of(sa).get(LABEL_CREDENTIAL_HOST, "") for sa in got.get("credentials") or []
            )
        ),
    )
    if not facts.is_host:
        leftovers = federation_leftovers(namespaces, got.get("federation accounts") or [])
        facts = replace(facts, federation_leftovers=leftovers)
    return facts


def _list_managed(api: ClusterApi, res: CustomResource) -> list[Obj]:
    try:
        return api.list_custom(res, label_selector=f"{LABEL_KUBEFED_MANAGED}=true")
    except NotFound:
        return []


# ---- reading -------------------------------------------------------------------------------


def _run_all(
    reads: Mapping[str, Callable[[], Any]], workers: int
) -> tuple[dict[str, Any], dict[str, ClusterError]]:
    """Run independent reads in parallel; results and ClusterErrors by read name."""
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="read") as pool:
        futures = {key: pool.submit(fn) for key, fn in reads.items()}
    got: dict[str, Any] = {}
    failed: dict[str, ClusterError] = {}
    for key, future in futures.items():
        error = future.exception()
        if error is None:
            got[key] = future.result()
        elif isinstance(error, ClusterError):
            failed[key] = error
        else:
            raise error
    return got, failed


def _unless(kind: type[ClusterError], read: Callable[[], T]) -> T | None:
    """`read()`, or None when it fails with `kind` (e.g. Forbidden: we may not list nodes)."""
    try:
        return read()
    except kind:
        return None


def _list_kind(api: ClusterApi, res: CustomResource) -> list[Obj]:
    """All objects of a KubeSphere type; none when the type is not served (CRD absent)."""
    try:
        return api.list_custom(res)
    except NotFound:
        return []


def _kubesphere_config(api: ClusterApi) -> _KsConfig | None:
    """Role, host switch, name and jwtSecret fingerprint from `kubesphere.yaml`.

    Nothing raised after the ConfigMap is read (a traceback would keep the secret alive in its
    frames): failures become `_KsConfig.error`, worded without the document's text.
    """
    try:
        configmap = api.get_configmap(KS_NAMESPACE, KS_CONFIG)
    except NotFound:
        return None
    where = f"{KS_NAMESPACE}/{KS_CONFIG}"
    try:
        doc = yaml.safe_load(text(dig(configmap, "data", "kubesphere.yaml")) or "")
    except yaml.YAMLError:
        return _KsConfig(error=f"{where}: kubesphere.yaml is not valid YAML")
    if not isinstance(doc, dict):
        return _KsConfig(error=f"{where}: kubesphere.yaml is not a mapping")
    secret = dig(doc, "authentication", "jwtSecret") or dig(
        doc, "authentication", "issuer", "jwtSecret"
    )
    return _KsConfig(
        role=text(dig(doc, "multicluster", "clusterRole")),
        enabled=dig(doc, "multicluster", "enable") is True,
        cluster_name=text(dig(doc, "multicluster", "clusterName")),
        jwt_fingerprint=fingerprint(secret) if isinstance(secret, str) and secret else None,
    )


def fingerprint(secret: str) -> str:
    """Twelve hex digits of SHA-256: enough to compare secrets, useless to recover one."""
    return hashlib.sha256(secret.encode()).hexdigest()[:12]


def _installer(api: ClusterApi) -> _Installer | None:
    """KubeSphere 3.x version and components from the ks-installer ClusterConfiguration (its
    spec also carries the jwtSecret, which is not kept)."""
    try:
        cc = api.get_custom(CLUSTER_CONFIGURATIONS, KS_INSTALLER, KS_NAMESPACE)
    except NotFound:
        return None
    version = text(dig(cc, "metadata", "labels", "version")) or text(
        dig(cc, "status", "core", "version")
    )
    spec = cc.get("spec")
    components = {key: dig(spec, key, "enabled") is True for key in COMPONENT_KEYS}
    components["appstore"] = dig(spec, "openpitrix", "store", "enabled") is True
    components["networkpolicy"] = dig(spec, "network", "networkpolicy", "enabled") is True
    return _Installer(version, tuple(sorted(components.items())))


def _ks_apiserver_version(api: ClusterApi) -> str | None:
    """gitVersion from ks-apiserver's `/kapis/version`, through the kube-apiserver proxy."""
    try:
        answer = yaml.safe_load(api.proxy_get(KS_NAMESPACE, KS_APISERVER, "kapis/version"))
    except (ClusterError, yaml.YAMLError):
        return None
    return text(dig(answer, "gitVersion"))


def _extensions(api: ClusterApi, failed: dict[str, ClusterError]) -> tuple[tuple[str, bool], ...]:
    """KubeSphere 4.x: installed extensions (InstallPlans) stand in for components."""
    try:
        plans = _list_kind(api, INSTALL_PLANS)
    except ClusterError as e:
        failed["extensions"] = e
        return ()
    return tuple(
        sorted((name_of(p), dig(p, "spec", "enabled") is not False) for p in plans if name_of(p))
    )


def _v4_host(ks_major: int | None, config: _KsConfig) -> bool:
    return ks_major == 4 and config.role == "host"


def _major(version: str | None) -> int | None:
    digits = (version or "").lstrip("v").split(".")[0]
    return int(digits) if digits.isdigit() else None
