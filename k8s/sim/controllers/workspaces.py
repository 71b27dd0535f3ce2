"""WorkspaceTemplate controller and KubeFed's workspace sync.

On a host, a template becomes a FederatedWorkspace, which KubeFed turns into a Workspace labelled
`kubefed.io/managed=true` on every joined cluster in its placement, deleting it from clusters
that leave the placement (and through garbage collection their namespaces). Without
`multicluster.enable` the template makes a local Workspace that it owns.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from k8s.sim.controllers.base import (
    MANAGED,
    WORKSPACE_LABEL,
    add_finalizer,
    delete_if_present,
    ensure,
    has_kubesphere,
    host_clusters_named,
    is_host,
    joined_members,
    remove_finalizer,
    replace,
)
from k8s.sim.resources import (
    CLUSTERS,
    FEDERATEDWORKSPACES,
    KUBEFEDCLUSTERS,
    NAMESPACES,
    WORKSPACEROLEBINDINGS,
    WORKSPACEROLES,
    WORKSPACES,
    WORKSPACETEMPLATES,
)
from k8s.sim.selectors import label_selector_from_match
from k8s.sim.store import meta

if TYPE_CHECKING:
    from k8s.sim.world import SimCluster, World

Obj = dict[str, Any]
TEMPLATE_FINALIZER = "finalizers.workspacetemplate.kubesphere.io"
ORPHAN_FINALIZER = "orphan.finalizers.kubesphere.io"
FED_FINALIZER = "kubefed.io/sync-controller"
ROLES = ("admin", "regular", "viewer", "self-provisioner")


def _owner(obj: Obj, api_version: str, kind: str) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": meta(obj)["name"],
        "uid": meta(obj)["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


class WorkspaceTemplateController:
    watches = frozenset({WORKSPACETEMPLATES.key})

    def handle(
        self, world: World, cluster: SimCluster, rkey: str, namespace: str, name: str
    ) -> None:
        if not has_kubesphere(cluster):
            return
        wt = cluster.store.peek(WORKSPACETEMPLATES, "", name)
        if wt is None:
            return
        host = is_host(cluster)
        if meta(wt).get("deletionTimestamp"):
            self._delete(cluster, wt, host)
            return
        wt = add_finalizer(cluster, WORKSPACETEMPLATES, wt, TEMPLATE_FINALIZER)
        template = (wt.get("spec") or {}).get("template") or {}
        ws_spec = copy.deepcopy(template.get("spec") or {})
        ws_labels = dict((template.get("metadata") or {}).get("labels") or {})
        if host:
            if (meta(wt).get("labels") or {}).get(MANAGED) != "false":
                new = copy.deepcopy(wt)
                new["metadata"].setdefault("labels", {})[MANAGED] = "false"
                wt = replace(cluster, WORKSPACETEMPLATES, wt, new)
            fed_spec = {
                "template": {"metadata": {"labels": ws_labels}, "spec": ws_spec},
                "placement": copy.deepcopy((wt.get("spec") or {}).get("placement") or {}),
            }
            overrides = (wt.get("spec") or {}).get("overrides")
            if overrides:
                fed_spec["overrides"] = copy.deepcopy(overrides)
            ensure(
                cluster,
                FEDERATEDWORKSPACES,
                "",
                {
                    "metadata": {"name": name, "finalizers": [FED_FINALIZER]},
                    "spec": fed_spec,
                },
            )
        else:
            ensure(
                cluster,
                WORKSPACES,
                "",
                {
                    "metadata": {
                        "name": name,
                        "labels": ws_labels,
                        "ownerReferences": [
                            _owner(wt, WORKSPACETEMPLATES.api_version, "WorkspaceTemplate")
                        ],
                    },
                    "spec": ws_spec,
                },
            )
        self._roles(cluster, wt, ws_spec)

    def _roles(self, cluster: SimCluster, wt: Obj, ws_spec: Obj) -> None:
        name = meta(wt)["name"]
        owner = [_owner(wt, WORKSPACETEMPLATES.api_version, "WorkspaceTemplate")]
        for role in ROLES:
            if cluster.store.peek(WORKSPACEROLES, "", f"{name}-{role}") is None:
                cluster.store.create(
                    WORKSPACEROLES,
                    "",
                    {
                        "metadata": {
                            "name": f"{name}-{role}",
                            "labels": {WORKSPACE_LABEL: name},
                            "ownerReferences": owner,
                        },
                        "rules": [],
                    },
                )
        manager = ws_spec.get("manager")
        binding = f"{manager}-{name}-admin"
        if manager and cluster.store.peek(WORKSPACEROLEBINDINGS, "", binding) is None:
            cluster.store.create(
                WORKSPACEROLEBINDINGS,
                "",
                {
                    "metadata": {
                        "name": binding,
                        "labels": {
                            WORKSPACE_LABEL: name,
                            "iam.kubesphere.io/user-ref": str(manager),
                        },
                        "ownerReferences": owner,
                    },
                    "roleRef": {
                        "apiGroup": "iam.kubesphere.io",
                        "kind": "WorkspaceRole",
                        "name": f"{name}-admin",
                    },
                    "subjects": [
                        {"apiGroup": "iam.kubesphere.io", "kind": "User", "name": str(manager)}
                    ],
                },
            )

    def _delete(self, cluster: SimCluster, wt: Obj, host: bool) -> None:
        from k8s.sim.controllers.openpitrix import delete_releases_in_workspace

        name = meta(wt)["name"]
        orphan = ORPHAN_FINALIZER in (meta(wt).get("finalizers") or [])
        # deleteOpenPitrixResourcesInWorkspace runs first, for Orphan deletion too
        delete_releases_in_workspace(cluster, name)
        if host:
            if not orphan:
                for ns in list(cluster.store.iter(NAMESPACES)):
                    if (meta(ns).get("labels") or {}).get(WORKSPACE_LABEL) == name:
                        delete_if_present(cluster, NAMESPACES, "", meta(ns)["name"])
            fw = cluster.store.peek(FEDERATEDWORKSPACES, "", name)
            if fw is not None and orphan:
                new = copy.deepcopy(fw)
                new["metadata"].setdefault("annotations", {})["kubefed.io/deleteoption"] = (
                    '{"propagationPolicy":"Orphan"}'
                )
                replace(cluster, FEDERATEDWORKSPACES, fw, new)
            delete_if_present(cluster, FEDERATEDWORKSPACES, "", name)
        delete_if_present(cluster, WORKSPACES, "", name, "Orphan" if orphan else "Background")
        remove_finalizer(cluster, WORKSPACETEMPLATES, wt, TEMPLATE_FINALIZER)
        fresh = cluster.store.peek(WORKSPACETEMPLATES, "", name)
        if fresh is not None:
            remove_finalizer(cluster, WORKSPACETEMPLATES, fresh, ORPHAN_FINALIZER)


class KubeFedWorkspaceSync:
    """KubeFed's sync controller for the `workspaces.tenant.kubesphere.io` FederatedTypeConfig."""

    watches = frozenset({FEDERATEDWORKSPACES.key, KUBEFEDCLUSTERS.key, CLUSTERS.key})

    def handle(
        self, world: World, cluster: SimCluster, rkey: str, namespace: str, name: str
    ) -> None:
        if not is_host(cluster):
            return
        if rkey != FEDERATEDWORKSPACES.key:
            for fw in list(cluster.store.iter(FEDERATEDWORKSPACES)):
                world.enqueue(cluster.name, FEDERATEDWORKSPACES.key, "", meta(fw)["name"])
            return
        found = cluster.store.peek(FEDERATEDWORKSPACES, "", name)
        if found is None:
            return
        fw = found
        members = joined_members(world, cluster)
        previous = {c["name"] for c in (fw.get("status") or {}).get("clusters") or []}
        if meta(fw).get("deletionTimestamp"):
            orphan = "Orphan" in (meta(fw).get("annotations") or {}).get(
                "kubefed.io/deleteoption", ""
            )
            if not orphan:
                for cname in previous:
                    if cname in members:
                        delete_if_present(members[cname], WORKSPACES, "", name)
            remove_finalizer(cluster, FEDERATEDWORKSPACES, fw, FED_FINALIZER)
            return
        targets = self._targets(cluster, fw, set(members))
        spec = fw.get("spec") or {}
        template = spec.get("template") or {}
        labels = {**((template.get("metadata") or {}).get("labels") or {}), MANAGED: "true"}
        for cname in sorted(targets):
            ensure(
                members[cname],
                WORKSPACES,
                "",
                {
                    "metadata": {"name": name, "labels": labels},
                    "spec": copy.deepcopy(template.get("spec") or {}),
                },
            )
        for cname in previous - targets:
            if cname in members:
                delete_if_present(members[cname], WORKSPACES, "", name)
        # clusters that are no longer joined stay listed: KubeFed cannot reach them to clean up
        kept = (previous - targets) - set(members)
        status_clusters = [{"name": c} for c in sorted(targets | kept)]
        if (fw.get("status") or {}).get("clusters") != status_clusters:
            new = copy.deepcopy(fw)
            new["status"] = {"clusters": status_clusters}
            replace(cluster, FEDERATEDWORKSPACES, fw, new)

    def _targets(self, host: SimCluster, fw: Obj, joined: set[str]) -> set[str]:
        placement = (fw.get("spec") or {}).get("placement") or {}
        if placement.get("clusters") is not None:
            wanted = {str(c.get("name")) for c in placement["clusters"]}
        elif placement.get("clusterSelector") is not None:
            selector = label_selector_from_match(placement["clusterSelector"])
            wanted = {
                n
                for n, c in host_clusters_named(host).items()
                if selector.matches(meta(c).get("labels") or {})
            }
        else:
            wanted = set()
        return wanted & joined
