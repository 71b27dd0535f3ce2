"""The host's cluster controller: join a member named by a Cluster's kubeconfig, unjoin on delete.

Reproduces KubeSphere 3.4.1's pitfalls on purpose: a member with another jwtSecret still becomes
Ready, unbinding leaves the member's namespaces and Workspaces as they were, and the 3.4
webhook refuses to drop the finalizer while the member is unreachable.
"""

from __future__ import annotations

import copy
import time
from typing import TYPE_CHECKING, Any, NoReturn

import yaml

from k8s.sim import errors, kubesphere
from k8s.sim.controllers.base import (
    FEDERATION_NS,
    MANAGED,
    add_finalizer,
    delete_if_present,
    ensure,
    is_host,
    kubeconfig_server,
    member_of,
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


class ClusterController:
    watches = frozenset({CLUSTERS.key})

    def __init__(self) -> None:
        self._join_due: dict[tuple[str, str], float] = {}

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
        """KubeSphere 3.4's validating webhook on Cluster updates: once `status.uid` is set, it
        dials the member with the new kubeconfig and refuses the update if the member is
        unreachable or its kube-system UID differs, even one that only drops the finalizer
        (kubesphere#6154)."""
        if rt is not CLUSTERS or not is_host(host):
            return
        uid = (old.get("status") or {}).get("uid")
        if not uid or HOST_LABEL in (meta(old).get("labels") or {}):
            return
        server = kubeconfig_server(new)
        if server is None:
            _deny(f"failed to load cluster config for {meta(new).get('name')}: invalid kubeconfig")
        member = world.cluster_by_url(server)
        if member is None or not member.is_up:
            address = server.split("://", 1)[-1]
            _deny(
                f'Get "{server}/api/v1/namespaces/kube-system": dial tcp {address}: '
                "connect: connection refused"
            )
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
        name = str(meta(obj)["name"])
        member = member_of(world, obj)
        new = copy.deepcopy(obj)
        status = new.setdefault("status", {})
        assert isinstance(status, dict)
        if member is None or not member.is_up:
            if not status.get("uid"):  # once joined, the webhook refuses this write anyway
                set_condition(
                    status,
                    "Ready",
                    False,
                    "Unreachable",
                    'Get "/api/v1/namespaces/kube-system": dial tcp: connect: connection refused',
                )
                replace(host, CLUSTERS, obj, new)
            world.enqueue(host.name, CLUSTERS.key, "", name, delay=RETRY)
            return
        conflict = self._workspace_conflict(host, member, name)
        if conflict is not None:
            set_condition(status, "Federated", False, "JoinFailed", conflict)
            set_condition(
                status, "Ready", False, "JoinFailed", "Cluster join federation control plane failed"
            )
            replace(host, CLUSTERS, obj, new)
            world.enqueue(host.name, CLUSTERS.key, "", name, delay=RETRY * 2)
            return
        # KubeFed join: identity on the member, credentials and KubeFedCluster on the host
        if member.store.peek(NAMESPACES, "", FEDERATION_NS) is None:
            member.store.create(NAMESPACES, "", {"metadata": {"name": FEDERATION_NS}})
        ensure(
            member,
            SERVICEACCOUNTS,
            FEDERATION_NS,
            {"metadata": {"name": f"{name}-kubesphere", "namespace": FEDERATION_NS}},
        )
        if host.store.peek(NAMESPACES, "", FEDERATION_NS) is None:
            host.store.create(NAMESPACES, "", {"metadata": {"name": FEDERATION_NS}})
        ensure(
            host,
            SECRETS,
            FEDERATION_NS,
            {
                "metadata": {"name": f"{name}-secret", "namespace": FEDERATION_NS},
                "type": "Opaque",
                "data": {"token": "c2ltLXRva2Vu"},
            },
        )
        labels = dict(meta(obj).get("labels") or {})
        ensure(
            host,
            KUBEFEDCLUSTERS,
            FEDERATION_NS,
            {
                "metadata": {"name": name, "namespace": FEDERATION_NS, "labels": labels},
                "spec": {
                    "apiEndpoint": member.url,
                    "secretRef": {"name": f"{name}-secret"},
                },
                "status": {"conditions": [{"type": "Ready", "status": "True"}]},
            },
        )
        config = kubesphere.read_config(member) or {}
        status.update(
            uid=member.kube_system_uid,
            kubernetesVersion=member.kubernetes_version,
            kubeSphereVersion=kubesphere.version(member),
            nodeCount=sum(1 for _ in member.store.iter(NODES)),
            configz=kubesphere.configz(config),
        )
        spec = new.setdefault("spec", {})
        assert isinstance(spec, dict)
        conn = spec.setdefault("connection", {})
        conn.setdefault("kubernetesAPIEndpoint", member.url)
        set_condition(status, "Federated", True, "", "")
        set_condition(status, "Ready", True, "Ready", "Cluster is available now")
        replace(host, CLUSTERS, obj, new)
        self._write_cluster_name(member, name)
        for wt in host.store.iter(WORKSPACETEMPLATES):
            world.enqueue(host.name, WORKSPACETEMPLATES.key, "", meta(wt)["name"])
        for fw in host.store.iter(FEDERATEDWORKSPACES):
            world.enqueue(host.name, FEDERATEDWORKSPACES.key, "", meta(fw)["name"])

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
        status = obj.get("status") or {}
        assert isinstance(status, dict)
        if status.get("uid") and HOST_LABEL not in (meta(obj).get("labels") or {}):
            # KubeSphere 3.4's validating webhook dials the member before any update, including
            # the one that removes the finalizer (kubesphere#6154).
            member = member_of(world, obj)
            if member is None or not member.is_up or member.kube_system_uid != status["uid"]:
                world.enqueue(host.name, CLUSTERS.key, "", name, delay=RETRY)
                return
        self._join_due.pop((host.name, name), None)
        remove_finalizer(host, CLUSTERS, obj, FINALIZER)


def _deny(message: str) -> NoReturn:
    raise errors.ApiError(
        403, "Forbidden", f'admission webhook "{WEBHOOK}" denied the request: {message}'
    )
