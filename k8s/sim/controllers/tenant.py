"""What ties workspace-scoped IAM and quota objects to their workspace, so that deleting the
workspace takes them along (KubeSphere v3.4.1 controllers, all cluster-scoped objects):

- WorkspaceRole / WorkspaceRoleBinding labelled `kubesphere.io/workspace=<ws>` and not
  `kubefed.io/managed=true`: controller ownerReference to the **WorkspaceTemplate** `<ws>`
  (`pkg/controller/workspacerole/`, `pkg/controller/workspacerolebinding/` — `bindWorkspace`).
  Copies KubeFed pushed to members are skipped, so they stay when a member's workspace goes.
- Group (`pkg/controller/group/group_controller.go` — `reconcile`): finalizer
  `finalizers.kubesphere.io/groups`; on a host label `kubefed.io/managed=false`; unless managed,
  a controller ownerReference to its parent Group (`iam.kubesphere.io/group-parent`) or else to
  the WorkspaceTemplate; on deletion it deletes GroupBindings, WorkspaceRoleBindings and
  ClusterRoleBindings labelled `iam.kubesphere.io/group-ref=<group>` (namespace RoleBindings
  too upstream; that type is not simulated).
- GroupBinding (`pkg/controller/groupbinding/`): finalizer
  `finalizers.kubesphere.io/groupsbindings`; adds/removes the group in each user's `spec.groups`.
- quota.kubesphere.io ResourceQuota (`pkg/controller/quota/resourcequota_controller.go` —
  `bindWorkspace`): its ownerReferences are replaced by one controller reference to the
  **Workspace** `<ws>`; garbage collection deletes it with the Workspace unless Orphan is used.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from k8s.sim.controllers.base import (
    MANAGED,
    WORKSPACE_LABEL,
    delete_if_present,
    has_kubesphere,
    is_host,
    remove_finalizer,
    replace,
)
from k8s.sim.resources import (
    CLUSTERROLEBINDINGS,
    GROUPBINDINGS,
    GROUPS,
    USERS,
    WORKSPACEQUOTAS,
    WORKSPACEROLEBINDINGS,
    WORKSPACEROLES,
    WORKSPACES,
    WORKSPACETEMPLATES,
    ResourceType,
)
from k8s.sim.store import meta

if TYPE_CHECKING:
    from k8s.sim.world import SimCluster, World

Obj = dict[str, Any]
GROUP_FINALIZER = "finalizers.kubesphere.io/groups"
GROUPBINDING_FINALIZER = "finalizers.kubesphere.io/groupsbindings"
GROUP_REF = "iam.kubesphere.io/group-ref"
GROUP_PARENT = "iam.kubesphere.io/group-parent"
WORKSPACE_KINDS = ("Workspace", "WorkspaceTemplate")


def controller_ref(owner: Obj, rt: ResourceType) -> Obj:
    """`controllerutil.SetControllerReference`: controller and blockOwnerDeletion set."""
    return {
        "apiVersion": rt.api_version,
        "kind": rt.kind,
        "name": meta(owner)["name"],
        "uid": meta(owner)["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _controlled_by(obj: Obj, owner: Obj) -> bool:
    return any(
        r.get("uid") == meta(owner)["uid"] and r.get("controller")
        for r in meta(obj).get("ownerReferences") or []
    )


def _without_workspace_refs(obj: Obj) -> list[Obj]:
    """`k8sutil.RemoveWorkspaceOwnerReference`."""
    return [
        r for r in meta(obj).get("ownerReferences") or [] if r.get("kind") not in WORKSPACE_KINDS
    ]


def bind_role_object(cluster: SimCluster, rt: ResourceType, obj: Obj) -> None:
    labels = meta(obj).get("labels") or {}
    ws = labels.get(WORKSPACE_LABEL)
    if not ws or labels.get(MANAGED) == "true" or meta(obj).get("deletionTimestamp"):
        return
    template = cluster.store.peek(WORKSPACETEMPLATES, "", ws)
    if template is None or _controlled_by(obj, template):
        return
    new = copy.deepcopy(obj)
    new["metadata"]["ownerReferences"] = [
        *_without_workspace_refs(obj),
        controller_ref(template, WORKSPACETEMPLATES),
    ]
    replace(cluster, rt, obj, new)


class TenantOwnership:
    """The workspacerole, workspacerolebinding, group, groupbinding and resourcequota
    controllers, reduced to what decides whether an object dies with its workspace."""

    watches = frozenset(
        {
            WORKSPACEROLES.key,
            WORKSPACEROLEBINDINGS.key,
            GROUPS.key,
            GROUPBINDINGS.key,
            WORKSPACEQUOTAS.key,
            WORKSPACETEMPLATES.key,
            WORKSPACES.key,
        }
    )

    def handle(
        self, world: World, cluster: SimCluster, rkey: str, namespace: str, name: str
    ) -> None:
        if not has_kubesphere(cluster):
            return
        if rkey in (WORKSPACETEMPLATES.key, WORKSPACES.key):
            self._workspace_changed(world, cluster, name)
            return
        rt = cluster.registry.by_key(rkey)
        obj = cluster.store.peek(rt, "", name)
        if obj is None:
            return
        if rt in (WORKSPACEROLES, WORKSPACEROLEBINDINGS):
            bind_role_object(cluster, rt, obj)
        elif rt is GROUPS:
            self._group(cluster, obj)
        elif rt is GROUPBINDINGS:
            self._group_binding(cluster, obj)
        elif rt is WORKSPACEQUOTAS:
            self._quota(cluster, obj)

    def _workspace_changed(self, world: World, cluster: SimCluster, ws: str) -> None:
        """The upstream controllers list-watch their own kinds only, but retry until the
        workspace exists; requeue the objects labelled with it to get the same effect."""
        for rt in (WORKSPACEROLES, WORKSPACEROLEBINDINGS, GROUPS, WORKSPACEQUOTAS):
            for obj in cluster.store.iter(rt):
                if (meta(obj).get("labels") or {}).get(WORKSPACE_LABEL) == ws:
                    world.enqueue(cluster.name, rt.key, "", meta(obj)["name"])

    def _group(self, cluster: SimCluster, group: Obj) -> None:
        md = meta(group)
        if md.get("deletionTimestamp"):
            if GROUP_FINALIZER in (md.get("finalizers") or []):
                for rt in (GROUPBINDINGS, WORKSPACEROLEBINDINGS, CLUSTERROLEBINDINGS):
                    for obj in list(cluster.store.iter(rt)):
                        if (meta(obj).get("labels") or {}).get(GROUP_REF) == md["name"]:
                            delete_if_present(cluster, rt, "", meta(obj)["name"])
                remove_finalizer(cluster, GROUPS, group, GROUP_FINALIZER)
            return
        new = copy.deepcopy(group)
        nmd = new["metadata"]
        if GROUP_FINALIZER not in (md.get("finalizers") or []):
            nmd.setdefault("finalizers", []).append(GROUP_FINALIZER)
        labels = md.get("labels") or {}
        if is_host(cluster) and labels.get(MANAGED) != "false":
            nmd.setdefault("labels", {})[MANAGED] = "false"
        if labels and labels.get(MANAGED) != "true":
            parent_name = labels.get(GROUP_PARENT)
            if parent_name is not None:
                parent = cluster.store.peek(GROUPS, "", parent_name)
                if parent is None:
                    nmd["labels"].pop(GROUP_PARENT, None)
                elif not _controlled_by(group, parent):
                    refs = [r for r in nmd.get("ownerReferences") or [] if not r.get("controller")]
                    nmd["ownerReferences"] = [*refs, controller_ref(parent, GROUPS)]
            elif labels.get(WORKSPACE_LABEL):
                template = cluster.store.peek(WORKSPACETEMPLATES, "", labels[WORKSPACE_LABEL])
                if template is not None and not _controlled_by(group, template):
                    nmd["ownerReferences"] = [
                        *_without_workspace_refs(group),
                        controller_ref(template, WORKSPACETEMPLATES),
                    ]
        replace(cluster, GROUPS, group, new)

    def _group_binding(self, cluster: SimCluster, binding: Obj) -> None:
        md = meta(binding)
        deleting = bool(md.get("deletionTimestamp"))
        if deleting and GROUPBINDING_FINALIZER not in (md.get("finalizers") or []):
            return
        group = str((binding.get("groupRef") or {}).get("name") or "")
        for user_name in binding.get("users") or []:
            user = cluster.store.peek(USERS, "", str(user_name))
            if user is None or meta(user).get("deletionTimestamp"):
                continue
            groups = list((user.get("spec") or {}).get("groups") or [])
            wanted = [g for g in groups if g != group] if deleting else [*groups, group]
            if group and (group in groups) == deleting:
                new_user = copy.deepcopy(user)
                new_user.setdefault("spec", {})["groups"] = wanted
                replace(cluster, USERS, user, new_user)
        if deleting:
            remove_finalizer(cluster, GROUPBINDINGS, binding, GROUPBINDING_FINALIZER)
            return
        new = copy.deepcopy(binding)
        if GROUPBINDING_FINALIZER not in (md.get("finalizers") or []):
            new["metadata"].setdefault("finalizers", []).append(GROUPBINDING_FINALIZER)
        if is_host(cluster) and (md.get("labels") or {}).get(MANAGED) != "false":
            new["metadata"].setdefault("labels", {})[MANAGED] = "false"
        replace(cluster, GROUPBINDINGS, binding, new)

    def _quota(self, cluster: SimCluster, quota: Obj) -> None:
        ws = (meta(quota).get("labels") or {}).get(WORKSPACE_LABEL)
        if not ws or meta(quota).get("deletionTimestamp"):
            return
        workspace = cluster.store.peek(WORKSPACES, "", ws)
        if workspace is None or _controlled_by(quota, workspace):
            return
        new = copy.deepcopy(quota)
        new["metadata"]["ownerReferences"] = [controller_ref(workspace, WORKSPACES)]
        replace(cluster, WORKSPACEQUOTAS, quota, new)
