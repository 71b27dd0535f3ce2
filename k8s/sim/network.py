"""Who can reach whom: a host's pods dialling members, partitions, and tower tunnels.

A real host reaches a member from its own network position with the kubeconfig in the Cluster
object; the bot reaching the same member proves nothing about that. So every host-side call the
simulated KubeSphere makes (cluster controller, 3.4 webhook, the validation endpoint) goes through
`dial`, which fails the way the Go client does: a partitioned or down member is
`dial tcp ADDR: connect: connection refused`, a rejected token is the member's `Unauthorized`.

Proxy members are reached through tower: the member's cluster-agent connects to
`http://<host>.tower.sim:8080` (a fake address naming the host) and the host's tower serves
`https://<fake ClusterIP of Service mc-<cluster>>:6443` while the session lives
(kubesphere/tower `pkg/proxy/proxy.go`). Partitions only cut direct dials from a host to a member;
an agent dials out from the member, so a partition does not stop it.
"""

from __future__ import annotations

import hashlib
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from k8s.sim import auth, clientcmd

if TYPE_CHECKING:
    from k8s.sim.world import SimCluster, World

TOWER_DOMAIN = "tower.sim"
TOWER_PORT = 8080


@dataclass
class NetState:
    partitions: dict[str, set[str]] = field(default_factory=dict)  # member → hosts cut off
    sessions: dict[tuple[str, str], str] = field(default_factory=dict)  # (host, cluster) → member


_STATES: weakref.WeakKeyDictionary[World, NetState] = weakref.WeakKeyDictionary()


def state(world: World) -> NetState:
    with world.lock:
        found = _STATES.get(world)
        if found is None:
            found = _STATES[world] = NetState()
        return found


class DialError(Exception):
    """A host-side request failed; `message` is the Go error string upstream would report."""

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.code = code  # the member's HTTP status, 0 for a transport error


def tower_host(address: str) -> str | None:
    parts = urlsplit(address)
    name = parts.hostname or ""
    if parts.port not in (None, TOWER_PORT) or not name.endswith("." + TOWER_DOMAIN):
        return None
    return name[: -len(TOWER_DOMAIN) - 1]


def service_ip(host: str, cluster: str) -> str:
    """A stable fake ClusterIP for tower's Service `kubesphere-system/mc-<cluster>` on `host`."""
    digest = hashlib.sha256(f"{host}/{cluster}".encode()).digest()
    return f"10.233.{digest[0]}.{max(1, digest[1])}"


def _address(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.hostname}:{port}"


def route(world: World, host: SimCluster, server: str) -> tuple[SimCluster | None, bool]:
    """The cluster a host pod reaches at `server`, and whether it goes through a tower tunnel.

    None when nothing answers there from this host (down, partitioned, no agent session)."""
    net = state(world)
    name = urlsplit(server).hostname or ""
    for (hname, cname), member in list(net.sessions.items()):
        if hname == host.name and name == service_ip(hname, cname):
            target = world.clusters.get(member)
            return (target if target is not None and target.is_up else None), True
    target = world.cluster_by_url(server)
    if target is None or not target.is_up:
        return None, False
    if target is not host and host.name in net.partitions.get(target.name, set()):
        return None, False
    return target, False


def resolve(world: World, host: SimCluster, server: str) -> SimCluster | None:
    """The member `server` names as seen from `host`, reachable or not (for bookkeeping)."""
    net = state(world)
    name = urlsplit(server).hostname or ""
    for (hname, cname), member in list(net.sessions.items()):
        if hname == host.name and name == service_ip(hname, cname):
            return world.clusters.get(member)
    return world.cluster_by_url(server)


def dial(
    world: World, host: SimCluster, rc: clientcmd.RestConfig, path: str, method: str = "GET"
) -> SimCluster:
    """One request from a pod on `host` to `rc.host + path`; the member if it was accepted."""
    op = method.capitalize()
    url = f"{rc.host}{path}"
    problem = rc.credential_error()
    if problem is not None:
        raise DialError(f'{op} "{url}": {problem}')
    target, tunnelled = route(world, host, rc.host)
    if target is None:
        raise DialError(f'{op} "{url}": dial tcp {_address(rc.host)}: connect: connection refused')
    if tunnelled:  # the agent talks to its own kube-apiserver with its service account
        return target
    token = rc.token
    if rc.token_file == clientcmd.POD_SA_TOKEN:
        token = host.token  # the pod's own service account: valid on the host only
    if not auth.valid_token(target, token):
        raise DialError("Unauthorized", 401)
    return target


def client(raw: Any) -> clientcmd.RestConfig:
    """RESTConfigFromKubeConfig + kubernetes.NewForConfig on a Cluster's kubeconfig bytes."""
    if isinstance(raw, str):
        raw = clientcmd.decode(raw)
    if not isinstance(raw, bytes):
        raise clientcmd.ConfigError("kubeconfig is not bytes")
    rc = clientcmd.load(raw)
    problem = rc.client_error()
    if problem is not None:
        raise clientcmd.ConfigError(problem)
    return rc


# ---- control API: /_sim/clusters/<member>/partitions ----------------------------------------


def control(world: World, member: SimCluster, method: str, payload: Any) -> tuple[int, Any]:
    net = state(world)
    if method == "GET":
        with world.lock:
            return 200, _listing(member, net)
    if method not in ("POST", "DELETE"):
        return 405, {"error": f"{method} not allowed on partitions (GET, POST, DELETE)"}
    if not isinstance(payload, dict):
        return 400, {"error": 'body must be a JSON object like {"from": "<host>"}'}
    source = payload.get("from")
    if method == "DELETE" and source is None:
        with world.lock:
            net.partitions.pop(member.name, None)
        world.kick_all()
        return 200, _listing(member, net)
    if not isinstance(source, str) or not source:
        return 400, {"error": '"from" must name a simulated cluster'}
    if source not in world.clusters:
        return 404, {"error": f"no simulated cluster {source!r}"}
    if source == member.name:
        return 422, {"error": "a cluster cannot be partitioned from itself"}
    with world.lock:
        cut = net.partitions.setdefault(member.name, set())
        if method == "POST":
            cut.add(source)
        else:
            cut.discard(source)
        if not cut:
            net.partitions.pop(member.name, None)
    world.kick_all()  # controllers notice, as they would on their next dial
    return (201 if method == "POST" else 200), _listing(member, net)


def _listing(member: SimCluster, net: NetState) -> dict[str, Any]:
    return {"member": member.name, "from": sorted(net.partitions.get(member.name, set()))}
