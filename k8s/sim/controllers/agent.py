"""Proxy members: tower on the host, the cluster-agent Deployment on the member.

Follows kubesphere/tower v0.2.1 `pkg/proxy/proxy.go`: for a Cluster with `joinFederation` and
`connection.type: proxy`, `addCluster` picks `kubernetesAPIServerPort` (6000-7000) and
`kubesphereAPIServerPort` (+10000), generates `connection.token` if empty, points the endpoints at
Service `mc-<name>` and sets Initialized; `handleWebsocket` accepts an agent whose `--name` is such
a Cluster and whose `--token` equals its token ("Unauthorized agent" otherwise, no condition), and
`Update` then issues a kubeconfig for `kubernetesAPIEndpoint` and sets AgentAvailable; when the
agent goes, AgentAvailable turns False. The cluster controller then joins through the tunnel.

The agent is the Deployment `kubesphere-system/cluster-agent` on the member, with
`/agent --name= --token= --proxy-server=` as ks-apiserver's `generateDefaultDeployment` writes it
(`pkg/kapis/cluster/v1alpha1/handler.go`); `--proxy-server=http://<host>.tower.sim:8080` names the
host (`network.tower_host` reads it). Re-pointing the args at another host's tower moves the
session.
Not simulated: the `mc-<name>` Service object (no Service type is served) and two agents sharing
one session (tower load-balances them; here the first member by name wins).
"""

from __future__ import annotations

import base64
import copy
import logging
import random
import secrets
from typing import TYPE_CHECKING, Any

import yaml

from k8s.sim import errors, network
from k8s.sim.controllers.base import is_host, replace, set_condition
from k8s.sim.resources import CLUSTERS, DEPLOYMENTS
from k8s.sim.store import meta

if TYPE_CHECKING:
    from k8s.sim.world import SimCluster, World

log = logging.getLogger("ksmc.sim")
Obj = dict[str, Any]
AGENT_NS, AGENT = "kubesphere-system", "cluster-agent"
CONNECTED = "Agent has connected to proxy successfully."
DISCONNECTED = "Agent has not connected to proxy."


def agent_flags(deployment: Obj) -> dict[str, str]:
    """`--flag=value` / `--flag value` from the agent container's command and args."""
    spec = (deployment.get("spec") or {}).get("template", {}).get("spec") or {}
    containers = spec.get("containers") or []
    if not containers:
        return {}
    words = [
        str(w) for w in (containers[0].get("command") or []) + (containers[0].get("args") or [])
    ]
    flags: dict[str, str] = {}
    for i, word in enumerate(words):
        if not word.startswith("--"):
            continue
        key, eq, value = word[2:].partition("=")
        if not eq and i + 1 < len(words) and not words[i + 1].startswith("--"):
            value = words[i + 1]
        flags[key] = value
    return flags


def _is_proxy(obj: Obj) -> bool:
    spec = obj.get("spec") or {}
    return (
        bool(spec.get("joinFederation")) and (spec.get("connection") or {}).get("type") == "proxy"
    )


def _condition(obj: Obj, ctype: str) -> Obj | None:
    conds = (obj.get("status") or {}).get("conditions") or []
    return next((c for c in conds if c.get("type") == ctype), None)


def issued_kubeconfig(name: str, server: str) -> str:
    """tower certs.IssueKubeConfig: client-certificate auth for `kubernetes-admin` (fake PEMs)."""
    pem = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nc2lt\n-----END CERTIFICATE-----\n")
    key = base64.b64encode(b"-----BEGIN EC PRIVATE KEY-----\nc2lt\n-----END EC PRIVATE KEY-----\n")
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": name,
                "cluster": {"server": server, "certificate-authority-data": pem.decode()},
            }
        ],
        "users": [
            {
                "name": "kubernetes-admin",
                "user": {"client-certificate-data": pem.decode(), "client-key-data": key.decode()},
            }
        ],
        "contexts": [
            {
                "name": f"kubernetes-admin@{name}",
                "context": {"cluster": name, "user": "kubernetes-admin"},
            }
        ],
        "current-context": f"kubernetes-admin@{name}",
    }
    return base64.b64encode(yaml.safe_dump(config).encode()).decode()


class TowerController:
    watches = frozenset({CLUSTERS.key, DEPLOYMENTS.key})

    def handle(
        self, world: World, cluster: SimCluster, rkey: str, namespace: str, name: str
    ) -> None:
        if rkey == CLUSTERS.key and is_host(cluster):
            obj = cluster.store.peek(CLUSTERS, "", name)
            if obj is not None and not meta(obj).get("deletionTimestamp") and _is_proxy(obj):
                self._initialize(cluster, obj)
        elif rkey == DEPLOYMENTS.key and (namespace, name) != (AGENT_NS, AGENT):
            return
        self._sessions(world)

    def _initialize(self, host: SimCluster, obj: Obj) -> None:
        cond = _condition(obj, "Initialized")
        if cond is not None and cond.get("status") == "True":
            return
        new = copy.deepcopy(obj)
        conn = new["spec"].setdefault("connection", {})
        port = random.randint(6000, 7000)
        conn["kubernetesAPIServerPort"] = port
        conn["kubesphereAPIServerPort"] = port + 10000
        if not conn.get("token"):
            conn["token"] = secrets.token_hex(32)
        ip = network.service_ip(host.name, meta(obj)["name"])
        conn["kubernetesAPIEndpoint"] = f"https://{ip}:6443"
        conn["kubesphereAPIEndpoint"] = f"http://{ip}:80"
        set_condition(
            new.setdefault("status", {}),
            "Initialized",
            True,
            "Initialized",
            "Cluster has been initialized",
        )
        replace(host, CLUSTERS, obj, new)

    def _wanted(self, world: World) -> dict[tuple[str, str], str]:
        """Sessions tower would hold now: (host, cluster name) → member running the agent."""
        wanted: dict[tuple[str, str], str] = {}
        for member in sorted(world.clusters.values(), key=lambda c: c.name):
            dep = member.store.peek(DEPLOYMENTS, AGENT_NS, AGENT)
            if dep is None or not member.is_up or (dep.get("spec") or {}).get("replicas") == 0:
                continue
            flags = agent_flags(dep)
            host = world.clusters.get(network.tower_host(flags.get("proxy-server", "")) or "")
            if host is None or not host.is_up or not is_host(host):
                continue  # the agent keeps retrying a tower nobody answers
            obj = host.store.peek(CLUSTERS, "", flags.get("name", ""))
            if obj is None or meta(obj).get("deletionTimestamp") or not _is_proxy(obj):
                continue
            init = _condition(obj, "Initialized")
            token = (obj["spec"].get("connection") or {}).get("token")
            if init is None or init.get("status") != "True" or flags.get("token") != token:
                continue  # not in tower's agents yet, or "Unauthorized agent"
            wanted.setdefault((host.name, meta(obj)["name"]), member.name)
        return wanted

    def _sessions(self, world: World) -> None:
        net = network.state(world)
        wanted = self._wanted(world)
        old = dict(net.sessions)
        net.sessions.clear()
        net.sessions.update(wanted)
        for key in sorted(set(old) | set(wanted)):
            if old.get(key) != wanted.get(key):
                self._update(world, key, connected=key in wanted)

    def _update(self, world: World, key: tuple[str, str], connected: bool) -> None:
        """tower Proxy.Update; a refusal (3.4 webhook) is logged, as upstream only retries
        conflicts."""
        host = world.clusters[key[0]]
        obj = host.store.peek(CLUSTERS, "", key[1])
        if obj is None:
            return
        new = copy.deepcopy(obj)
        conn = new["spec"].setdefault("connection", {})
        if connected:
            conn["kubeconfig"] = issued_kubeconfig(key[1], str(conn.get("kubernetesAPIEndpoint")))
        message = CONNECTED if connected else DISCONNECTED
        set_condition(new.setdefault("status", {}), "AgentAvailable", connected, "", message)
        try:
            replace(host, CLUSTERS, obj, new)
        except errors.ApiError as e:
            log.info("tower: updating cluster %s on %s: %s", key[1], key[0], e.message)
