"""OpenPitrix application releases (KubeSphere v3.4.1 `pkg/controller/openpitrix/helmrelease/`).

A HelmRelease (`application.kubesphere.io/v1alpha1`, cluster-scoped) names a Helm release
(`spec.name`) installed into the namespace in its `kubesphere.io/namespace` label, on the member in
its `kubesphere.io/cluster` label when the cluster runs as a host (else locally). Why it matters to
a migration: deleting a workspace deletes every release labelled with it, and a release's
finalizer runs `helm uninstall`, deleting the application's workloads on the member; deleting a
member's Cluster on the host garbage-collects its releases (they carry an ownerReference to it)
but skips the uninstall, leaving the workloads behind.

A chart is simulated as one Deployment named after the release plus Helm's release record
Secret, labelled and annotated as Helm 3 and KubeSphere's post-renderer label them.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from k8s.sim import errors
from k8s.sim.controllers.base import (
    WORKSPACE_LABEL,
    delete_if_present,
    has_kubesphere,
    is_host,
    kubeconfig_server,
    remove_finalizer,
    replace,
)
from k8s.sim.resources import CLUSTERS, DEPLOYMENTS, HELMRELEASES, NAMESPACES, SECRETS
from k8s.sim.store import meta, now_rfc3339

if TYPE_CHECKING:
    from k8s.sim.world import SimCluster, World

Obj = dict[str, Any]
RELEASE_FINALIZER = "helmrelease.application.kubesphere.io"
CLUSTER_LABEL = "kubesphere.io/cluster"
NAMESPACE_LABEL = "kubesphere.io/namespace"
HOST_LABEL = "cluster-role.kubesphere.io/host"
INSTANCE_LABEL = "app.kubesphere.io/instance"  # KubeSphere's post-renderer adds it
RELEASE_NAME = "meta.helm.sh/release-name"
RELEASE_NAMESPACE = "meta.helm.sh/release-namespace"


def _reach(world: World, host: SimCluster, cluster_obj: Obj) -> SimCluster | None:
    """The member a Cluster's kubeconfig reaches from the host's pods, if it answers."""
    from k8s.sim import network

    server = kubeconfig_server(cluster_obj)
    return network.route(world, host, server)[0] if server else None


class UninstallError(errors.ApiError):
    """The target cluster cannot be reached: the finalizer stays and the step is retried."""


def delete_releases_in_workspace(cluster: SimCluster, workspace: str) -> None:
    """`deleteHelmReleases` in the WorkspaceTemplate finalizer: DeleteAllOf by workspace label
    (called for normal and Orphan deletion alike; HelmRepos and apps are not simulated)."""
    for rls in list(cluster.store.iter(HELMRELEASES)):
        labels = meta(rls).get("labels") or {}
        if labels.get(WORKSPACE_LABEL) == workspace and not meta(rls).get("deletionTimestamp"):
            delete_if_present(cluster, HELMRELEASES, "", meta(rls)["name"])


class HelmReleaseController:
    watches = frozenset({HELMRELEASES.key})

    def handle(
        self, world: World, cluster: SimCluster, rkey: str, namespace: str, name: str
    ) -> None:
        if not has_kubesphere(cluster):
            return
        rls = cluster.store.peek(HELMRELEASES, "", name)
        if rls is None:
            return
        state = (rls.get("status") or {}).get("state")
        if not state:
            self._status(cluster, rls, "creating")
            return
        multicluster = is_host(cluster)
        if meta(rls).get("deletionTimestamp"):
            if RELEASE_FINALIZER in (meta(rls).get("finalizers") or []):
                if state != "deleting":
                    rls = self._status(cluster, rls, "deleting")
                self._uninstall(world, cluster, rls, multicluster)
                remove_finalizer(cluster, HELMRELEASES, rls, RELEASE_FINALIZER)
            return
        if RELEASE_FINALIZER not in (meta(rls).get("finalizers") or []):
            self._adopt(cluster, rls, multicluster)
            return
        if state == "creating":
            target = self._target(world, cluster, rls, multicluster)
            failure = "cluster unreachable" if target is None else self._install(target, rls)
            self._status(cluster, rls, "failed" if failure else "created", failure)
        elif state == "created":
            self._status(cluster, rls, "active")

    def _adopt(self, cluster: SimCluster, rls: Obj, multicluster: bool) -> None:
        """First reconcile: own the release by its member Cluster, then add the finalizer."""
        new = copy.deepcopy(rls)
        target = (meta(rls).get("labels") or {}).get(CLUSTER_LABEL, "")
        if multicluster and target:
            cl = cluster.store.peek(CLUSTERS, "", target)
            if cl is None:
                delete_if_present(cluster, HELMRELEASES, "", meta(rls)["name"])
                return
            # the host cluster "self-heals": only member releases are owned by their Cluster
            if HOST_LABEL not in (meta(cl).get("labels") or {}):
                new["metadata"].setdefault("ownerReferences", []).append(
                    {
                        "apiVersion": CLUSTERS.api_version,
                        "kind": "Cluster",
                        "name": meta(cl)["name"],
                        "uid": meta(cl)["uid"],
                    }
                )
        new["metadata"].setdefault("finalizers", []).append(RELEASE_FINALIZER)
        replace(cluster, HELMRELEASES, rls, new)

    def _target(
        self, world: World, cluster: SimCluster, rls: Obj, multicluster: bool
    ) -> SimCluster | None:
        target = (meta(rls).get("labels") or {}).get(CLUSTER_LABEL, "")
        if not (multicluster and target):
            return cluster
        cl = cluster.store.peek(CLUSTERS, "", target)
        if cl is None or HOST_LABEL in (meta(cl).get("labels") or {}):
            return cluster if cl is not None else None
        return _reach(world, cluster, cl)

    def _install(self, target: SimCluster, rls: Obj) -> str:
        """`helm install`: the chart's Deployment and the release record; "" on success."""
        release = str((rls.get("spec") or {}).get("name") or meta(rls)["name"])
        ns = (meta(rls).get("labels") or {}).get(NAMESPACE_LABEL, "")
        if not ns or target.store.peek(NAMESPACES, "", ns) is None:
            return f'create: failed to create: namespaces "{ns}" not found'
        version = int((rls.get("spec") or {}).get("version") or 1)
        creator = (meta(rls).get("annotations") or {}).get("kubesphere.io/creator", "")
        owned = {
            "labels": {
                "app.kubernetes.io/managed-by": "Helm",
                "app.kubernetes.io/instance": release,  # chart convention ({{ .Release.Name }})
                "app.kubernetes.io/name": str((rls.get("spec") or {}).get("chartName") or release),
                INSTANCE_LABEL: release,
            },
            "annotations": {RELEASE_NAME: release, RELEASE_NAMESPACE: ns},
        }
        if creator:
            owned["annotations"]["kubesphere.io/creator"] = creator
        if target.store.peek(DEPLOYMENTS, ns, release) is None:
            selector = {"app.kubernetes.io/instance": release}
            target.store.create(
                DEPLOYMENTS,
                ns,
                {
                    "metadata": {"name": release, "namespace": ns, **copy.deepcopy(owned)},
                    "spec": {
                        "replicas": 1,
                        "selector": {"matchLabels": selector},
                        "template": {
                            "metadata": {"labels": selector},
                            "spec": {"containers": [{"name": "app", "image": "nginx"}]},
                        },
                    },
                },
            )
        record = f"sh.helm.release.v1.{release}.v{version}"
        if target.store.peek(SECRETS, ns, record) is None:
            target.store.create(
                SECRETS,
                ns,
                {
                    "metadata": {
                        "name": record,
                        "namespace": ns,
                        "labels": {
                            "owner": "helm",
                            "name": release,
                            "status": "deployed",
                            "version": str(version),
                        },
                    },
                    "type": "helm.sh/release.v1",
                },
            )
        return ""

    def _uninstall(self, world: World, cluster: SimCluster, rls: Obj, multicluster: bool) -> None:
        """`uninstallHelmRelease`: skipped when the member's Cluster is gone or being deleted."""
        target_name = (meta(rls).get("labels") or {}).get(CLUSTER_LABEL, "")
        target: SimCluster | None = cluster
        if multicluster and target_name:
            cl = cluster.store.peek(CLUSTERS, "", target_name)
            if cl is None or meta(cl).get("deletionTimestamp"):
                return  # upstream: cluster deleted or deleting, "skip helm release uninstall"
            if HOST_LABEL not in (meta(cl).get("labels") or {}):
                target = _reach(world, cluster, cl)
        if target is None or not target.is_up:
            raise UninstallError(503, "ServiceUnavailable", "helm uninstall: cluster unreachable")
        release = str((rls.get("spec") or {}).get("name") or meta(rls)["name"])
        ns = (meta(rls).get("labels") or {}).get(NAMESPACE_LABEL, "")
        records = [
            s
            for s in target.store.iter(SECRETS, ns)
            if (meta(s).get("labels") or {}).get("owner") == "helm"
            and (meta(s).get("labels") or {}).get("name") == release
        ]
        if not records:
            return  # "release: not found" counts as uninstalled
        for rt in (DEPLOYMENTS,):
            for obj in list(target.store.iter(rt, ns)):
                notes = meta(obj).get("annotations") or {}
                if notes.get(RELEASE_NAME) == release and notes.get(RELEASE_NAMESPACE) == ns:
                    delete_if_present(target, rt, ns, meta(obj)["name"])
        for record in records:
            delete_if_present(target, SECRETS, ns, meta(record)["name"])

    def _status(self, cluster: SimCluster, rls: Obj, state: str, message: str = "") -> Obj:
        new = copy.deepcopy(rls)
        status = new.setdefault("status", {})
        status["state"] = state
        status["lastUpdate"] = now_rfc3339()
        if message:
            status["message"] = message
        if state == "created":
            status["version"] = (rls.get("spec") or {}).get("version", 1)
            status["lastDeployed"] = status["lastUpdate"]
        return replace(cluster, HELMRELEASES, rls, new)
