"""WorkspaceTemplate controller (KubeSphere v3.4.1 `pkg/controller/workspacetemplate/`).

On a host (`multicluster.enable`) a template is labelled `kubefed.io/managed=false` and becomes
a FederatedWorkspace of the same name with the template's labels and spec copied (no
ownerReference); KubeFed (`k8s/sim/controllers/kubefed.py`) then places Workspaces. Without
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
    is_host,
    remove_finalizer,
    replace,
)
from k8s.sim.resources import (
    FEDERATEDWORKSPACES,
    NAMESPACES,
    WORKSPACEROLEBINDINGS,
    WORKSPACEROLES,
    WORKSPACES,
    WORKSPACETEMPLATES,
)
from k8s.sim.store import meta

if TYPE_CHECKING:
    from k8s.sim.world import SimCluster, World

Obj = dict[str, Any]
TEMPLATE_FINALIZER = "finalizers.workspacetemplate.kubesphere.io"
ORPHAN_FINALIZER = "orphan.finalizers.kubesphere.io"
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
            # newFederatedWorkspace copies labels and the whole spec through KubeSphere's Go
            # types, whose `clusters,omitempty` turns an empty list into nil (then the
            # selector decides, or nothing is selected)
            fed_spec = copy.deepcopy(wt.get("spec") or {})
            placement = fed_spec.get("placement") or {}
            if placement.get("clusters") == []:
                del placement["clusters"]
            ensure(
                cluster,
                FEDERATEDWORKSPACES,
                "",
                {
                    "metadata": {"name": name, "labels": dict(meta(wt).get("labels") or {})},
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
