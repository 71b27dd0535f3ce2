"""Namespace ↔ Workspace binding, as KubeSphere 3.x's namespace and workspace controllers do it.

A namespace labelled `kubesphere.io/workspace=X` gets a controller ownerReference to Workspace X,
so deleting X (normal propagation) lets garbage collection delete the namespace — the reason the
migration must unbind kept namespaces first.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from k8s.sim.controllers.base import (
    MANAGED,
    WORKSPACE_LABEL,
    add_finalizer,
    has_kubesphere,
    remove_finalizer,
    replace,
)
from k8s.sim.resources import NAMESPACES, WORKSPACES
from k8s.sim.store import meta

if TYPE_CHECKING:
    from k8s.sim.world import SimCluster, World

Obj = dict[str, Any]
NS_FINALIZER = "finalizers.kubesphere.io/namespaces"
WS_FINALIZER = "finalizers.tenant.kubesphere.io"
WS_KINDS = ("Workspace", "WorkspaceTemplate")


def _is_workspace_ref(ref: Obj) -> bool:
    return str(ref.get("apiVersion", "")).startswith("tenant.kubesphere.io/") and (
        ref.get("kind") in WS_KINDS
    )


class NamespaceController:
    watches = frozenset({NAMESPACES.key})

    def handle(
        self, world: World, cluster: SimCluster, rkey: str, namespace: str, name: str
    ) -> None:
        if not has_kubesphere(cluster):
            return
        ns = cluster.store.peek(NAMESPACES, "", name)
        if ns is None:
            return
        if meta(ns).get("deletionTimestamp"):
            remove_finalizer(cluster, NAMESPACES, ns, NS_FINALIZER)
            return
        first = NS_FINALIZER not in (meta(ns).get("finalizers") or [])
        ns = add_finalizer(cluster, NAMESPACES, ns, NS_FINALIZER)
        new = copy.deepcopy(ns)
        md = new["metadata"]
        labels = md.setdefault("labels", {})
        if first:
            # only together with the finalizer (namespace_controller.go Reconcile): KubeFed's
            # updates replace a managed namespace's labels, and upstream does not re-add it
            labels["kubesphere.io/namespace"] = name
        refs = list(md.get("ownerReferences") or [])
        ws_name = labels.get(WORKSPACE_LABEL)
        if labels.get(MANAGED) == "true":
            pass  # multi-cluster projects pushed by KubeFed are left alone
        elif ws_name:
            ws = cluster.store.peek(WORKSPACES, "", ws_name)
            if ws is not None and not meta(ws).get("deletionTimestamp"):
                refs = [r for r in refs if not _is_workspace_ref(r)]
                refs.append(
                    {
                        "apiVersion": WORKSPACES.api_version,
                        "kind": "Workspace",
                        "name": ws_name,
                        "uid": meta(ws)["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                )
            elif ws is None and any(_is_workspace_ref(r) for r in refs):
                labels.pop(WORKSPACE_LABEL, None)
                refs = [r for r in refs if not _is_workspace_ref(r)]
        else:
            refs = [r for r in refs if not _is_workspace_ref(r)]
        if refs:
            md["ownerReferences"] = refs
        else:
            md.pop("ownerReferences", None)
        replace(cluster, NAMESPACES, ns, new)


class WorkspaceController:
    watches = frozenset({WORKSPACES.key})

    def handle(
        self, world: World, cluster: SimCluster, rkey: str, namespace: str, name: str
    ) -> None:
        if not has_kubesphere(cluster):
            return
        ws = cluster.store.peek(WORKSPACES, "", name)
        if ws is not None and meta(ws).get("deletionTimestamp"):
            remove_finalizer(cluster, WORKSPACES, ws, WS_FINALIZER)
            return
        if ws is not None:
            add_finalizer(cluster, WORKSPACES, ws, WS_FINALIZER)
        for ns in cluster.store.iter(NAMESPACES):
            if (meta(ns).get("labels") or {}).get(WORKSPACE_LABEL) == name:
                world.enqueue(cluster.name, NAMESPACES.key, "", meta(ns)["name"])
