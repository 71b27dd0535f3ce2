"""Worlds as data: build a simulated fleet from a YAML file, the way an operator would build it.

KubeSphere is "installed" by creating its ClusterConfiguration, members are imported by creating
Cluster objects on their hosts, and workspaces and projects are created through the API, so the
controllers produce every derived object exactly as they would for a test or for kubectl.
"""

from __future__ import annotations

import base64
import os
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from k8s.sim.resources import CLUSTERCONFIGURATIONS, CLUSTERS, NAMESPACES
from k8s.sim.world import SimCluster, World

Obj = dict[str, Any]
# a world without `controllerDelay` takes its lag from here, so any test suite built on worlds can
# be re-run against lagging controllers:
#   KSMC_SIM_CONTROLLER_DELAY=0.2 pytest tests/k8s/test_executor.py
DELAY_ENV = "KSMC_SIM_CONTROLLER_DELAY"


class WorldError(ValueError):
    pass


def world_names() -> list[str]:
    return sorted(
        p.name.removesuffix(".yaml")
        for p in resources.files("k8s.sim").joinpath("worlds").iterdir()
        if p.name.endswith(".yaml")
    )


def read_world(name_or_path: str) -> Obj:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") and path.exists():
        text = path.read_text()
    else:
        ref = resources.files("k8s.sim").joinpath("worlds", f"{name_or_path}.yaml")
        if not ref.is_file():
            raise WorldError(
                f"unknown world {name_or_path!r}; built-in worlds: {', '.join(world_names())}"
            )
        text = ref.read_text()
    data = yaml.safe_load(text)
    if not isinstance(data, dict) or not isinstance(data.get("clusters"), list):
        raise WorldError(f"world {name_or_path!r} has no 'clusters' list")
    return data


def cluster_configuration(spec: Obj) -> Obj:
    """The ks-installer ClusterConfiguration for a cluster's `kubesphere:` section."""
    components = dict(spec.get("components") or {})
    cc_spec: Obj = {
        "authentication": {"jwtSecret": str(spec.get("jwtSecret") or "")},
        "multicluster": {"clusterRole": spec.get("role", "none")},
    }
    if spec.get("role") == "host":
        cc_spec["multicluster"]["hostClusterName"] = spec.get("hostClusterName")
    for key, enabled in components.items():
        if key == "appstore":
            cc_spec["openpitrix"] = {"store": {"enabled": bool(enabled)}}
        elif key == "networkpolicy":
            cc_spec["network"] = {"networkpolicy": {"enabled": bool(enabled)}}
        else:
            cc_spec[key] = {"enabled": bool(enabled)}
    return {
        "apiVersion": CLUSTERCONFIGURATIONS.api_version,
        "kind": "ClusterConfiguration",
        "metadata": {
            "name": "ks-installer",
            "namespace": "kubesphere-system",
            "labels": {"version": str(spec.get("version", "v3.4.1"))},
        },
        "spec": cc_spec,
    }


def member_kubeconfig(member: SimCluster) -> str:
    """The base64 kubeconfig a host's Cluster object carries for a member."""
    config = member.world.kubeconfig([member.name])
    return base64.b64encode(yaml.safe_dump(config).encode()).decode()


def cluster_object(member: SimCluster, labels: dict[str, str] | None = None) -> Obj:
    return {
        "apiVersion": CLUSTERS.api_version,
        "kind": "Cluster",
        "metadata": {"name": member.name, "labels": dict(labels or {})},
        "spec": {
            "joinFederation": True,
            "provider": "kubesphere",
            "connection": {"type": "direct", "kubeconfig": member_kubeconfig(member)},
        },
    }


def _seconds(value: Any, what: str) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise WorldError(f"{what} must be a number of seconds, not {value!r}") from None
    if seconds < 0:
        raise WorldError(f"{what} must not be negative")
    return seconds


def build(
    data: Obj,
    join_delay: float | None = None,
    controller_delay: float | None = None,
    installer_delay: float | None = None,
) -> World:
    """Create (but do not start) the clusters of a world; arguments override the YAML's
    `joinDelay`, `controllerDelay` and `installerDelay` (see k8s/sim/timing.py)."""
    if installer_delay is None and data.get("installerDelay") is not None:
        installer_delay = _seconds(data["installerDelay"], "installerDelay")
    world = World(
        join_delay=float(data.get("joinDelay", 0.3) if join_delay is None else join_delay),
        controller_delay=_seconds(
            data.get("controllerDelay", os.environ.get(DELAY_ENV, 0.0))
            if controller_delay is None
            else controller_delay,
            "controllerDelay",
        ),
        installer_delay=installer_delay,
    )
    for spec in data["clusters"]:
        world.add_cluster(
            str(spec["name"]),
            kubernetes_version=str(spec.get("kubernetesVersion", "v1.26.7")),
            flavor=str(spec.get("flavor", "v3")),
            nodes=int(spec.get("nodes", 3)),
        )
    return world


def populate(world: World, data: Obj, timeout: float = 30.0) -> None:
    """Install KubeSphere, import members and create the world's objects, settling in between."""
    with world.lock:
        for spec in data["clusters"]:
            ks = spec.get("kubesphere")
            cluster = world.clusters[str(spec["name"])]
            if not ks:
                continue
            if cluster.flavor == "v4":
                _install_v4(cluster, ks)
                continue
            cluster.store.create(NAMESPACES, "", {"metadata": {"name": "kubesphere-system"}})
            cluster.store.create(
                CLUSTERCONFIGURATIONS, "kubesphere-system", cluster_configuration(ks)
            )
    # every step of a populated world is a chain of lagged reactions, and re-runs of the installer
    # are not part of building it
    timeout += 50 * world.controller_delay
    _settle(world, timeout)
    with world.lock:
        for join in data.get("joins") or []:
            host = world.clusters[str(join["host"])]
            member = world.clusters[str(join["member"])]
            host.store.create(CLUSTERS, "", cluster_object(member, join.get("labels")))
    _settle(world, timeout)
    for batch in data.get("objects") or []:
        cluster = world.clusters[str(batch["cluster"])]
        with world.lock:
            for obj in batch.get("items") or []:
                rt = cluster.registry.by_kind(str(obj["apiVersion"]), str(obj["kind"]))
                if rt is None:
                    raise WorldError(f"{batch['cluster']}: unknown kind {obj['kind']}")
                ns = str(obj.get("metadata", {}).get("namespace", "")) if rt.namespaced else ""
                cluster.store.create(rt, ns, obj)
        _settle(world, timeout)


def _install_v4(cluster: SimCluster, ks: Obj) -> None:
    from k8s.sim.resources import CONFIGMAPS

    cluster.store.create(NAMESPACES, "", {"metadata": {"name": "kubesphere-system"}})
    config = {
        "authentication": {"issuer": {"jwtSecret": str(ks.get("jwtSecret") or "v4-secret")}},
        "multicluster": {"clusterRole": ks.get("role", "host")},
    }
    cluster.store.create(
        CONFIGMAPS,
        "kubesphere-system",
        {
            "metadata": {"name": "kubesphere-config", "namespace": "kubesphere-system"},
            "data": {"kubesphere.yaml": yaml.safe_dump(config)},
        },
    )


def _settle(world: World, timeout: float) -> None:
    if not world.settle(timeout):
        raise WorldError("the simulated controllers did not settle while building the world")


def start(
    name_or_path: str = "demo",
    kubeconfig: Path | None = None,
    join_delay: float | None = None,
    controller_delay: float | None = None,
    installer_delay: float | None = None,
) -> World:
    """Build, start and populate a world; write its kubeconfig if asked."""
    data = read_world(name_or_path)
    world = build(data, join_delay, controller_delay, installer_delay)
    world.start()
    try:
        populate(world, data)
    except BaseException:
        world.stop()
        raise
    if kubeconfig is not None:
        world.write_kubeconfig(kubeconfig)
    return world


def start_fresh(
    names: list[str],
    kubeconfig: Path | None = None,
    join_delay: float = 0.3,
    controller_delay: float = 0.0,
    installer_delay: float | None = None,
) -> World:
    world = World(
        join_delay=join_delay, controller_delay=controller_delay, installer_delay=installer_delay
    )
    for name in names:
        world.add_cluster(name)
    world.start()
    if kubeconfig is not None:
        world.write_kubeconfig(kubeconfig)
    return world
