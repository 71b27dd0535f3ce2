"""The host's cluster controller: join a member named by a Cluster's kubeconfig, unjoin on delete.

Follows KubeSphere 3.4.1 `pkg/controller/cluster/cluster_controller.go` syncCluster, `join.go` and
`cluster_webhook.go`. The member is dialled from the host's network position with the kubeconfig
in the Cluster object (`k8s/sim/network.py`, parsed as client-go would in the pod by
`k8s/sim/clientcmd.py`), never with what the bot can reach. Pitfalls kept on purpose: a member with
another jwtSecret still becomes Ready, unbinding leaves the member's namespaces and Workspaces, a
kubeconfig client-go cannot load leaves no condition (upstream only logs it), and the 3.4 webhook
refuses every update, the finalizer's removal included, while the host cannot reach the member.
"""

from __future__ import annotations

import copy
import logging
import time
from typing import TYPE_CHECKING, Any, NoReturn

import yaml

from k8s.sim import clientcmd, errors, kubesphere, network
from k8s.sim.auth import SA_NAME, SA_TOKEN_TYPE
from k8s.sim.controllers import tokens
from k8s.sim.controllers.base import (
    FEDERATION_NS,
    MANAGED,
    add_finalizer,
    delete_if_present,
    ensure,
    is_host,
    remove_finalizer,
    replace,
    set_condition,
)
from k8s.sim.resources import (
    CLUSTERS,
    CONFIGMAPS,
    FEDERATEDWORKSPACES,
    KUBEFEDCLUSTERS,
    NAMESPACES,
    NODES,
    SECRETS,
    SERVICEACCOUNTS,
    WORKSPACES,
    WORKSPACETEMPLATES,
    ResourceType,
)
from k8s.sim.store import meta

if TYPE_CHECKING:
    from k8s.sim.world import SimCluster, World

FINALIZER = "finalizer.cluster.kubesphere.io"
HOST_LABEL = "cluster-role.kubesphere.io/host"
WEBHOOK = "validating-cluster.kubesphere.io"
RETRY = 1.0
KUBE_SYSTEM_PATH = "/api/v1/namespaces/kube-system"
log = logging.getLogger("ksmc.sim")


class ClusterController:
    watches = frozenset({CLUSTERS.key})

    def __init__(self) -> None:
        self._join_due: dict[tuple[str, str], float] = {}
        # what upstream only logs (klog) per (host, cluster): why the last sync failed
        self.errors: dict[tuple[str, str], str] = {}

    def handle(
        self, world: World, cluster: SimCluster, rkey: str, namespace: str, name: str
    ) -> None:
        if not is_host(cluster):
            return
        obj = cluster.store.peek(CLUSTERS, "", name)
        if obj is None:
            self._join_due.pop((cluster.name, name), None)
            return
        if meta(obj).get("deletionTimestamp"):
            self._unjoin(world, cluster, obj)
            return
        obj = add_finalizer(cluster, CLUSTERS, obj, FINALIZER)
        if HOST_LABEL in (meta(obj).get("labels") or {}):
            self._own_status(cluster, obj)
            return
        spec = obj.get("spec") or {}
        conn = spec.get("connection") or {}
        if not spec.get("joinFederation") or not conn.get("kubeconfig"):
            return
        key = (cluster.name, name)
        due = self._join_due.setdefault(key, time.monotonic() + world.join_delay)
        if time.monotonic() < due:
            world.enqueue(cluster.name, CLUSTERS.key, "", name, delay=due - time.monotonic())
            return
        self._join(world, cluster, obj)

    def admit(
        self,
        world: World,
        host: SimCluster,
        rt: ResourceType,
        old: dict[str, Any],
        new: dict[str, Any],
    ) -> None:
        """KubeSphere 3.4's validating webhook on Cluster updates (`cluster_webhook.go` Handle):
        once `status.uid` is set, it dials the member from the host with the *new* kubeconfig and
        refuses the update if that fails or the kube-system UID differs, even one that only drops
        the finalizer (kubesphere#6154)."""
        if rt is not CLUSTERS or not is_host(host):
            return
        uid = (old.get("status") or {}).get("uid")
        if not uid or HOST_LABEL in (meta(old).get("labels") or {}):
            return  # the host's own Cluster: its in-cluster kubeconfig is not simulated
        raw = ((new.get("spec") or {}).get("connection") or {}).get("kubeconfig") or ""
        try:
            rc = clientcmd.load(clientcmd.decode(raw))
        except clientcmd.ConfigError as e:
            _deny(f"failed to load cluster config for {meta(new).get('name')}: {e}")
        if rc.client_error() is not None:  # kubernetes.NewForConfig failed
            _deny(str(rc.client_error()))
        try:
            member = network.dial(world, host, rc, KUBE_SYSTEM_PATH)
        except network.DialError as e:
            _deny(e.message)
        if member.kube_system_uid != uid:
            _deny(
                "this kubeconfig corresponds to a different cluster than the previous one, you "
                "need to make sure that kubeconfig is not from another cluster"
            )

    def _own_status(self, host: SimCluster, obj: dict[str, object]) -> None:
        new = copy.deepcopy(obj)
        status = new.setdefault("status", {})
        assert isinstance(status, dict)
        config = kubesphere.read_config(host) or {}
        status.update(
            uid=host.kube_system_uid,
            kubernetesVersion=host.kubernetes_version,
            kubeSphereVersion=kubesphere.version(host),
            nodeCount=sum(1 for _ in host.store.iter(NODES)),
            configz=kubesphere.configz(config),
        )
        set_condition(status, "Ready", True, "Ready", "Cluster is available now")
        replace(host, CLUSTERS, obj, new)

    def _join(self, world: World, host: SimCluster, obj: dict[str, object]) -> None:
        """syncCluster's join path; a dial failure fails joinFederation as upstream reports it."""
        name = str(meta(obj)["name"])
        spec = obj.get("spec") or {}
        assert isinstance(spec, dict)
        conn = spec.get("connection") or {}
        try:
            rc = network.client(conn.get("kubeconfig") or "")
        except clientcmd.ConfigError as e:
            # upstream returns "failed to create cluster config/client for X: ..." from
            # syncCluster: logged and retried, no condition is written, never Ready
            self.errors[(host.name, name)] = f"failed to create cluster config for {name}: {e}"
            log.info("cluster %s on %s: %s", name, host.name, self.errors[(host.name, name)])
            return
        path = f"/api/v1/namespaces/{FEDERATION_NS}/serviceaccounts/{name}-kubesphere"
        try:
            member = network.dial(world, host, rc, path)  # join.go performPreflightChecks
        except network.DialError as e:
            self._join_failed(world, host, obj, e.message)
            return
        token = self._kubefed_identity(member, name)
        problem = self._workspace_conflict(host, member, name)  # join.go checkWorkspaces
        if problem is not None:
            self._join_failed(world, host, obj, problem)
            return
        self.errors.pop((host.name, name), None)
        self._kubefed_cluster(host, obj, rc.host, token)
        new = copy.deepcopy(obj)
        status = new.setdefault("status", {})
        assert isinstance(status, dict)
        set_condition(
            status,
            "Federated",
            True,
            "",
            "Cluster has joined federation control plane successfully",
        )
        config = kubesphere.read_config(member) or {}
        status.update(
            uid=member.kube_system_uid,
            kubernetesVersion=member.kubernetes_version,
            nodeCount=sum(1 for _ in member.store.iter(NODES)),
        )
        if config:  # configz/version fetch failures are only logged upstream
            status["configz"] = kubesphere.configz(config)
        ks_version = kubesphere.version(member)
        if ks_version:
            status["kubeSphereVersion"] = ks_version
        spec = new.setdefault("spec", {})
        assert isinstance(spec, dict)
        spec.setdefault("connection", {}).setdefault("kubernetesAPIEndpoint", rc.host)
        set_condition(status, "Ready", True, "Ready", "Cluster is available now")
        replace(host, CLUSTERS, obj, new)
        self._write_cluster_name(member, name)
        for wt in host.store.iter(WORKSPACETEMPLATES):
            world.enqueue(host.name, WORKSPACETEMPLATES.key, "", meta(wt)["name"])
        for fw in host.store.iter(FEDERATEDWORKSPACES):
            world.enqueue(host.name, FEDERATEDWORKSPACES.key, "", meta(fw)["name"])

    def _join_failed(
        self, world: World, host: SimCluster, obj: dict[str, object], problem: str
    ) -> None:
        """joinFederation failed: Federated/Ready False with upstream's reasons and messages; the
        write goes through the webhook, which refuses it once joined (then only logged)."""
        name = str(meta(obj)["name"])
        self.errors[(host.name, name)] = problem
        new = copy.deepcopy(obj)
        status = new.setdefault("status", {})
        assert isinstance(status, dict)
        set_condition(
            status, "Federated", False, problem, "Cluster can not join federation control plane"
        )
        set_condition(
            status,
            "Ready",
            False,
            "Cluster join federation control plane failed",
            "Cluster is Not Ready now",
        )
        try:
            replace(host, CLUSTERS, obj, new)
        except errors.ApiError as e:
            log.info("cluster %s on %s: status update refused: %s", name, host.name, e.message)
        world.enqueue(host.name, CLUSTERS.key, "", name, delay=RETRY)

    def _kubefed_identity(self, member: SimCluster, name: str) -> str:
        """join.go on the member: namespace, ServiceAccount `<name>-kubesphere` and its token
        Secret (created explicitly since Kubernetes 1.24); returns the filled token."""
        if member.store.peek(NAMESPACES, "", FEDERATION_NS) is None:
            member.store.create(NAMESPACES, "", {"metadata": {"name": FEDERATION_NS}})
        sa_name = f"{name}-kubesphere"
        sa = ensure(
            member,
            SERVICEACCOUNTS,
            FEDERATION_NS,
            {"metadata": {"name": sa_name, "namespace": FEDERATION_NS}},
        )
        secret = None
        for ref in sa.get("secrets") or []:
            secret = member.store.peek(SECRETS, FEDERATION_NS, str(ref.get("name")))
        if secret is None:
            secret = member.store.create(
                SECRETS,
                FEDERATION_NS,
                {
                    "metadata": {
                        "generateName": f"{sa_name}-token-",
                        "namespace": FEDERATION_NS,
                        "annotations": {SA_NAME: sa_name},
                    },
                    "type": SA_TOKEN_TYPE,
                },
            )
            new_sa = copy.deepcopy(sa)
            new_sa["secrets"] = [{"name": meta(secret)["name"]}]
            replace(member, SERVICEACCOUNTS, sa, new_sa)
        # populateSecretInHostCluster polls until the token controller has filled it
        filled = tokens.fill(member, secret) or {}
        return str((filled.get("data") or {}).get("token") or "")

    def _kubefed_cluster(
        self, host: SimCluster, obj: dict[str, object], endpoint: str, token: str
    ) -> None:
        name = str(meta(obj)["name"])
        if host.store.peek(NAMESPACES, "", FEDERATION_NS) is None:
            host.store.create(NAMESPACES, "", {"metadata": {"name": FEDERATION_NS}})
        ensure(
            host,
            SECRETS,
            FEDERATION_NS,
            {
                "metadata": {"name": f"{name}-secret", "namespace": FEDERATION_NS},
                "type": "Opaque",
                "data": {"token": token},
            },
        )
        labels = dict(meta(obj).get("labels") or {})
        ensure(
            host,
            KUBEFEDCLUSTERS,
            FEDERATION_NS,
            {
                "metadata": {"name": name, "namespace": FEDERATION_NS, "labels": labels},
                "spec": {"apiEndpoint": endpoint, "secretRef": {"name": f"{name}-secret"}},
                "status": {"conditions": [{"type": "Ready", "status": "True"}]},
            },
        )

    def _workspace_conflict(self, host: SimCluster, member: SimCluster, name: str) -> str | None:
        for ws in member.store.iter(WORKSPACES):
            if (meta(ws).get("labels") or {}).get(MANAGED) != "true":
                continue
            fw = host.store.peek(FEDERATEDWORKSPACES, "", meta(ws)["name"])
            if fw is None:
                continue
            placement = (fw.get("spec") or {}).get("placement") or {}
            clusters = placement.get("clusters")
            if clusters is not None and name not in {c.get("name") for c in clusters}:
                return (
                    f"The workspace {meta(ws)['name']} is found in the target member cluster "
                    f"{name}, which is conflict with the workspace on host"
                )
        return None

    def _write_cluster_name(self, member: SimCluster, name: str) -> None:
        cm = member.store.peek(CONFIGMAPS, kubesphere.KS_NS, kubesphere.KS_CONFIG)
        config = kubesphere.read_config(member)
        if cm is None or config is None:
            return
        multicluster = config.setdefault("multicluster", {})
        if multicluster.get("clusterName") == name:
            return
        multicluster["clusterName"] = name
        new = copy.deepcopy(cm)
        new["data"]["kubesphere.yaml"] = yaml.safe_dump(config, sort_keys=True)
        replace(member, CONFIGMAPS, cm, new)

    def _unjoin(self, world: World, host: SimCluster, obj: dict[str, object]) -> None:
        name = str(meta(obj)["name"])
        delete_if_present(host, KUBEFEDCLUSTERS, FEDERATION_NS, name)
        delete_if_present(host, SECRETS, FEDERATION_NS, f"{name}-secret")
        try:
            # the finalizer update passes the 3.4 webhook, which dials the member (#6154)
            remove_finalizer(host, CLUSTERS, obj, FINALIZER)
        except errors.ApiError as e:
            log.info("cluster %s on %s: %s", name, host.name, e.message)
            world.enqueue(host.name, CLUSTERS.key, "", name, delay=RETRY)
            return
        self._join_due.pop((host.name, name), None)
        self.errors.pop((host.name, name), None)


def _deny(message: str) -> NoReturn:
    raise errors.ApiError(
        403, "Forbidden", f'admission webhook "{WEBHOOK}" denied the request: {message}'
    )
