"""A simulated world: several named clusters, their controllers, faults and the `/_sim/` API.

One lock guards the whole world because KubeSphere's controllers act across clusters (a host
joins a member, KubeFed pushes workspaces); with one lock every controller step is atomic.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import threading
import time
import traceback
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import yaml

from k8s.sim import errors
from k8s.sim.resources import (
    BUILTIN,
    KUBESPHERE_V3,
    KUBESPHERE_V4,
    NAMESPACES,
    NODES,
    Registry,
    ResourceType,
)
from k8s.sim.server import Fault, SimHTTPServer, serve
from k8s.sim.store import ClusterStore, Event, meta

if TYPE_CHECKING:
    from k8s.sim.server import Handler

log = logging.getLogger("ksmc.sim")
Obj = dict[str, Any]
WorkKey = tuple[str, str, str, str]  # (cluster, resource key, namespace, name)


class Controller(Protocol):
    """One simulated controller: told about changes to the resources it watches."""

    watches: frozenset[str]

    def handle(
        self, world: World, cluster: SimCluster, rkey: str, namespace: str, name: str
    ) -> None: ...


@dataclass
class RequestRecord:
    method: str
    path: str
    query: str
    content_type: str
    status: int
    at: float

    def public(self) -> Obj:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "contentType": self.content_type,
            "status": self.status,
            "at": self.at,
        }


@dataclass
class SimCluster:
    """One simulated cluster: its store, its port, and what tests did to it."""

    world: World
    name: str
    registry: Registry
    kubernetes_version: str = "v1.26.7"
    flavor: str = "v3"  # "v3" or "v4": which KubeSphere API groups the cluster serves
    port: int = 0
    is_up: bool = False
    store: ClusterStore = field(init=False)
    faults: list[Fault] = field(default_factory=list)
    requests: list[RequestRecord] = field(default_factory=list)
    token: str = field(default_factory=lambda: "sim-" + uuid.uuid4().hex)
    _httpd: SimHTTPServer | None = None
    _fault_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.store = ClusterStore(
            self.name, self.registry, self.world.lock, self.world.notify, self.world.admit
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def kube_system_uid(self) -> str:
        obj = self.store.peek(NAMESPACES, "", "kube-system")
        return str(meta(obj)["uid"]) if obj else ""

    def start(self) -> None:
        self._httpd, _ = serve(self, self.port)
        self.port = self._httpd.server_address[1]
        self.is_up = True

    def down(self) -> None:
        self.is_up = False
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        with self.world.lock:
            self.store.cond.notify_all()  # let watch streams notice and end

    def up(self) -> None:
        if self._httpd is None:
            for _ in range(50):
                try:
                    self.start()
                    break
                except OSError:
                    time.sleep(0.1)
        self.is_up = True
        self.world.kick_all()

    def add_fault(self, spec: Obj) -> Fault:
        fault = Fault(
            id=next(self._fault_ids),
            method=str(spec.get("method", "*")).upper(),
            path=str(spec.get("path", ".*")),
            status=int(spec["status"]) if spec.get("status") is not None else None,
            drop=bool(spec.get("drop", False)),
            delay=float(spec.get("delay", 0.0)),
            times=int(spec["times"]) if spec.get("times") is not None else None,
            retry_after=int(spec["retryAfter"]) if spec.get("retryAfter") is not None else None,
            message=str(spec.get("message", "")),
        )
        with self.world.lock:
            self.faults.append(fault)
        return fault

    def apply_faults(self, method: str, path: str, handler: Handler) -> None:
        with self.world.lock:
            fault = next((f for f in self.faults if f.matches(method, path)), None)
            if fault is not None:
                fault.hits += 1
        if fault is None:
            return
        if fault.delay:
            time.sleep(fault.delay)
        if fault.drop:
            handler.drop()
        if fault.status is not None:
            reason = {
                429: "TooManyRequests",
                500: "InternalError",
                503: "ServiceUnavailable",
                504: "Timeout",
                403: "Forbidden",
                401: "Unauthorized",
            }.get(fault.status, "InternalError")
            details = {"retryAfterSeconds": fault.retry_after} if fault.retry_after else None
            message = fault.message or f"injected fault: HTTP {fault.status}"
            raise errors.ApiError(fault.status, reason, message, details)

    def log_request(self, method: str, path: str, query: str, ctype: str, status: int) -> None:
        with self.world.lock:
            self.requests.append(RequestRecord(method, path, query, ctype, status, time.time()))

    def service_proxy(
        self, namespace: str, service: str, rest: str, method: str, body: bytes = b""
    ) -> tuple[int, Any]:
        from k8s.sim import kubesphere

        return kubesphere.service_proxy(self, namespace, service, rest, method, body)


def _node_status(kubernetes_version: str) -> Obj:
    """A Ready node's status, with every NodeSystemInfo field the official client requires."""
    return {
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
        "nodeInfo": {
            "architecture": "amd64",
            "bootID": str(uuid.uuid4()),
            "containerRuntimeVersion": "containerd://1.6.21",
            "kernelVersion": "5.15.0-86-generic",
            "kubeProxyVersion": kubernetes_version,
            "kubeletVersion": kubernetes_version,
            "machineID": uuid.uuid4().hex,
            "operatingSystem": "linux",
            "osImage": "Ubuntu 22.04.3 LTS",
            "systemUUID": str(uuid.uuid4()),
        },
    }


class World:
    """The clusters of one simulation plus the controller loop that reacts to their changes."""

    def __init__(
        self,
        join_delay: float = 0.3,
        controller_delay: float = 0.0,
        installer_delay: float | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.clusters: dict[str, SimCluster] = {}
        self.join_delay = join_delay
        # seconds between a change and any controller's or GC's reaction (k8s/sim/timing.py)
        self.controller_delay = controller_delay
        self.installer_delay = installer_delay  # None: timing.INSTALLER_SCALE x controller_delay
        self.controllers: list[Controller] = []
        self.controller_errors: list[str] = []
        self._queue: dict[WorkKey, None] = {}
        self._timers: list[tuple[float, int, WorkKey]] = []
        self._seq = itertools.count()
        self._wake = threading.Condition(self.lock)
        self._busy = False
        self._stop = False
        self._thread: threading.Thread | None = None

    # ---- building ----------------------------------------------------------------------------

    def add_cluster(
        self, name: str, kubernetes_version: str = "v1.26.7", flavor: str = "v3", nodes: int = 3
    ) -> SimCluster:
        types = BUILTIN + (KUBESPHERE_V4 if flavor == "v4" else KUBESPHERE_V3)
        cluster = SimCluster(self, name, Registry(types), kubernetes_version, flavor)
        from k8s.sim import timing

        timing.attach_gc(self, cluster)
        with self.lock:
            self.clusters[name] = cluster
            for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
                cluster.store.create(NAMESPACES, "", {"metadata": {"name": ns}})
            for i in range(nodes):
                cluster.store.create(
                    NODES,
                    "",
                    {
                        "metadata": {
                            "name": f"{name}-node-{i + 1}",
                            "labels": {"kubernetes.io/hostname": f"{name}-node-{i + 1}"},
                        },
                        "status": _node_status(kubernetes_version),
                    },
                )
        return cluster

    def start(self) -> None:
        from k8s.sim.controllers import all_controllers

        if not self.controllers:
            self.controllers = all_controllers()
        for cluster in self.clusters.values():
            cluster.start()
        self._thread = threading.Thread(target=self._run, daemon=True, name="sim-controllers")
        self._thread.start()
        self.kick_all()

    def stop(self) -> None:
        with self.lock:
            self._stop = True
            self._wake.notify_all()
        for cluster in self.clusters.values():
            cluster.down()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def cluster_by_url(self, url: str) -> SimCluster | None:
        url = url.rstrip("/")
        return next((c for c in self.clusters.values() if c.url == url), None)

    # ---- controller loop ---------------------------------------------------------------------

    def notify(self, cluster: str, event: Event) -> None:
        name = str(meta(event.obj).get("name", ""))
        self.enqueue(cluster, event.rkey, event.namespace, name, delay=self.controller_delay)

    def enqueue(self, cluster: str, rkey: str, namespace: str, name: str, delay: float = 0) -> None:
        with self.lock:
            key = (cluster, rkey, namespace, name)
            if delay > 0:
                heapq.heappush(self._timers, (time.monotonic() + delay, next(self._seq), key))
            else:
                self._queue[key] = None
            self._wake.notify_all()

    def kick_all(self) -> None:
        """Reconcile everything, as controllers do on start-up."""
        with self.lock:
            for cluster in self.clusters.values():
                for rt in cluster.registry.types:
                    for obj in cluster.store.iter(rt):
                        md = meta(obj)
                        self._queue[(cluster.name, rt.key, md.get("namespace", ""), md["name"])] = (
                            None
                        )
            self._wake.notify_all()

    def _run(self) -> None:
        while True:
            with self.lock:
                while not self._stop:
                    now = time.monotonic()
                    while self._timers and self._timers[0][0] <= now:
                        self._queue[heapq.heappop(self._timers)[2]] = None
                    if self._queue:
                        break
                    wait = self._timers[0][0] - now if self._timers else 1.0
                    self._wake.wait(timeout=max(0.005, min(wait, 1.0)))
                if self._stop:
                    return
                key = next(iter(self._queue))
                del self._queue[key]
                self._busy = True
                try:
                    self._dispatch(key)
                finally:
                    self._busy = False
                    self._wake.notify_all()

    def _dispatch(self, key: WorkKey) -> None:
        cluster = self.clusters.get(key[0])
        if cluster is None:
            return
        for controller in self.controllers:
            if key[1] in controller.watches:
                try:
                    controller.handle(self, cluster, key[1], key[2], key[3])
                except errors.ApiError as e:
                    # a controller's write lost a race or hit a fault: try again shortly
                    log.debug("controller %s: %s", type(controller).__name__, e.message)
                    self.enqueue(*key, delay=0.1)
                except Exception:
                    self.controller_errors.append(traceback.format_exc())
                    log.exception("simulated controller %s failed", type(controller).__name__)

    def admit(self, cluster: str, rt: ResourceType, old: Obj, new: Obj) -> None:
        """Validating webhooks: a controller with an `admit` method may refuse an update."""
        target = self.clusters.get(cluster)
        if target is None:
            return
        for controller in self.controllers:
            check = getattr(controller, "admit", None)
            if check is not None:
                check(self, target, rt, old, new)

    def settle(self, timeout: float = 10.0) -> bool:
        """Wait until no controller work is queued or due; True if the world went quiet."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                if not self._queue and not self._busy and not self._timers:
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._wake.wait(timeout=min(left, 0.05))

    # ---- control API (/_sim/) ----------------------------------------------------------------

    def control(
        self, via: SimCluster, method: str, path: str, query: dict[str, str], body: bytes
    ) -> tuple[int, Any]:
        parts = path.strip("/").split("/")[1:]
        target = via
        if len(parts) >= 2 and parts[0] == "clusters":
            found = self.clusters.get(parts[1])
            if found is None:
                return 404, {"error": f"no simulated cluster {parts[1]!r}"}
            target, parts = found, parts[2:]
        action = "/".join(parts)
        try:
            payload = json.loads(body) if body.strip() else {}
        except ValueError:
            return 400, {"error": "body is not JSON"}
        if action == "" and method == "GET":
            return 200, {"clusters": sorted(self.clusters)}
        if action == "info" and method == "GET":
            return 200, {
                "name": target.name,
                "url": target.url,
                "up": target.is_up,
                "kubeSystemUID": target.kube_system_uid,
                "flavor": target.flavor,
            }
        if action == "faults":
            if method == "POST":
                return 201, target.add_fault(payload).public()
            if method == "GET":
                return 200, {"faults": [f.public() for f in target.faults]}
            if method == "DELETE":
                with self.lock:
                    target.faults.clear()
                return 200, {"faults": []}
        if action == "requests":
            if method == "GET":
                with self.lock:
                    return 200, {"requests": [r.public() for r in target.requests]}
            if method == "DELETE":
                with self.lock:
                    target.requests.clear()
                return 200, {"requests": []}
        if action == "down" and method == "POST":
            threading.Thread(target=target.down, daemon=True).start()
            return 202, {"name": target.name, "up": False}
        if action == "up" and method == "POST":
            target.up()
            return 200, {"name": target.name, "up": True}
        if action == "settle" and method in ("GET", "POST"):
            quiet = self.settle(float(query.get("timeout", "10")))
            return (200 if quiet else 504), {"settled": quiet}
        if action == "partitions":  # reachability between clusters: k8s/sim/network.py
            from k8s.sim import network

            return network.control(self, target, method, payload)
        return 404, {"error": f"unknown control action {method} /_sim/{action}"}

    # ---- kubeconfig --------------------------------------------------------------------------

    def kubeconfig(self, names: Iterable[str] | None = None) -> Obj:
        chosen = [self.clusters[n] for n in (names or self.clusters)]
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "preferences": {},
            "current-context": chosen[0].name if chosen else "",
            "clusters": [{"name": c.name, "cluster": {"server": c.url}} for c in chosen],
            "users": [{"name": f"{c.name}-admin", "user": {"token": c.token}} for c in chosen],
            "contexts": [
                {"name": c.name, "context": {"cluster": c.name, "user": f"{c.name}-admin"}}
                for c in chosen
            ],
        }

    def write_kubeconfig(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(self.kubeconfig(), sort_keys=False))
        path.chmod(0o600)
        return path
