"""Turning API objects into facts: pure functions from the JSON the API returns to the frozen
values in `k8s/facts.py`. Kept apart from `k8s/gather.py`, which does the reading."""

from __future__ import annotations

from typing import Any

from k8s import placement
from k8s.access.transport import Obj
from k8s.facts import (
    ClusterObjectInfo,
    FederatedInfo,
    FederatedWorkspaceInfo,
    ManagedInfo,
    NamespaceInfo,
    OwnerRef,
    ReleaseInfo,
    RoleBindingInfo,
    WorkspaceInfo,
    WorkspaceTemplateInfo,
)
from k8s.kinds import FEDERATED_TYPES

FEDERATION_NAMESPACE = "kube-federation-system"
LABEL_WORKSPACE = "kubesphere.io/workspace"
LABEL_KUBEFED_MANAGED = "kubefed.io/managed"
LABEL_HOST = "cluster-role.kubesphere.io/host"
LABEL_USER_REF = "iam.kubesphere.io/user-ref"


def federated_objects(got: dict[str, Any]) -> tuple[FederatedInfo, ...]:
    out = [
        FederatedInfo("Workspace", name_of(o), placement.of(o), deleting=deleting(o))
        for o in got.get("federated workspaces") or []
    ]
    for kind in FEDERATED_TYPES:
        for o in got.get(f"federated {kind}") or []:
            ns = text(dig(o, "metadata", "namespace")) or ""
            # a FederatedNamespace is named after the namespace it federates and lives in it
            out.append(FederatedInfo(kind, name_of(o), placement.of(o), ns, deleting(o)))
    return tuple(out)


def managed_objects(got: dict[str, Any]) -> tuple[ManagedInfo, ...]:
    out = [
        ManagedInfo("User", name_of(o))
        for o in got.get("users") or []
        if labels_of(o).get(LABEL_KUBEFED_MANAGED) == "true"
    ]
    out += [
        ManagedInfo("WorkspaceRoleBinding", name_of(o), labels_of(o).get(LABEL_WORKSPACE))
        for o in got.get("workspace role bindings") or []
        if labels_of(o).get(LABEL_KUBEFED_MANAGED) == "true"
    ]
    for kind in FEDERATED_TYPES:
        for o in got.get(f"managed {kind}") or []:
            out.append(ManagedInfo(kind, name_of(o), labels_of(o).get(LABEL_WORKSPACE)))
    return tuple(sorted(out, key=lambda m: (m.kind, m.name)))


def release_info(obj: Obj) -> ReleaseInfo:
    labels = labels_of(obj)
    namespace = (
        labels.get("kubesphere.io/namespace")
        or text(dig(obj, "spec", "namespace"))
        or text(dig(obj, "metadata", "namespace"))
        or ""
    )
    return ReleaseInfo(
        name=name_of(obj),
        namespace=namespace,
        workspace=labels.get(LABEL_WORKSPACE),
        deleting=deleting(obj),
        cluster=labels.get("kubesphere.io/cluster") or None,
    )


# ---- turning objects into facts -----------------------------------------------------------


def namespace_info(obj: Obj) -> NamespaceInfo:
    labels = labels_of(obj)
    owners = dig(obj, "metadata", "ownerReferences")
    return NamespaceInfo(
        name=name_of(obj),
        uid=text(dig(obj, "metadata", "uid")) or "",
        resource_version=rv_of(obj),
        workspace=labels.get(LABEL_WORKSPACE) or None,
        kubefed_managed=labels.get(LABEL_KUBEFED_MANAGED) == "true",
        owners=tuple(owner_ref(o) for o in owners if isinstance(o, dict))
        if isinstance(owners, list)
        else (),
        deleting=deleting(obj),
    )


def owner_ref(ref: Obj) -> OwnerRef:
    return OwnerRef(
        api_version=text(ref.get("apiVersion")) or "",
        kind=text(ref.get("kind")) or "",
        name=text(ref.get("name")) or "",
        uid=text(ref.get("uid")) or "",
        controller=ref.get("controller") is True,
    )


def workspace_info(obj: Obj) -> WorkspaceInfo:
    return WorkspaceInfo(
        name=name_of(obj),
        uid=text(dig(obj, "metadata", "uid")) or "",
        resource_version=rv_of(obj),
        kubefed_managed=labels_of(obj).get(LABEL_KUBEFED_MANAGED) == "true",
        deleting=deleting(obj),
    )


def template_info(obj: Obj) -> WorkspaceTemplateInfo:
    isolation = dig(obj, "spec", "template", "spec", "networkIsolation")
    tlabels = dig(obj, "spec", "template", "metadata", "labels")
    return WorkspaceTemplateInfo(
        name=name_of(obj),
        uid=text(dig(obj, "metadata", "uid")) or "",
        resource_version=rv_of(obj),
        placement_clusters=placement_names(obj),
        manager=text(dig(obj, "spec", "template", "spec", "manager")),
        deleting=deleting(obj),
        placement=placement.of(obj),
        network_isolation=isolation if isinstance(isolation, bool) else None,
        template_labels=tuple(sorted((str(k), str(v)) for k, v in tlabels.items()))
        if isinstance(tlabels, dict)
        else (),
    )


def federated_workspace_info(obj: Obj) -> FederatedWorkspaceInfo:
    return FederatedWorkspaceInfo(name=name_of(obj), placement_clusters=placement_names(obj))


def placement_names(obj: Obj) -> tuple[str, ...] | None:
    """`spec.placement.clusters` names (possibly none); None when placement is by selector."""
    clusters = dig(obj, "spec", "placement", "clusters")
    if not isinstance(clusters, list):
        return None
    return tuple(str(c["name"]) for c in clusters if isinstance(c, dict) and c.get("name"))


def cluster_object_info(obj: Obj) -> ClusterObjectInfo:
    conditions = dig(obj, "status", "conditions")
    ready = next(
        (c for c in conditions or [] if isinstance(c, dict) and c.get("type") == "Ready"), {}
    )
    labels = labels_of(obj)
    annotations = dig(obj, "metadata", "annotations")
    return ClusterObjectInfo(
        connection_type=text(dig(obj, "spec", "connection", "type")) or "direct",
        annotations=tuple(sorted((str(k), str(v)) for k, v in annotations.items()))
        if isinstance(annotations, dict)
        else (),
        name=name_of(obj),
        uid_claimed=text(dig(obj, "status", "uid")) or None,
        ready=ready.get("status") == "True",
        ready_message=text(ready.get("message")) or "",
        is_host_itself=LABEL_HOST in labels,
        labels=tuple(sorted(labels.items())),
        resource_version=rv_of(obj),
        deleting=deleting(obj),
    )


def role_binding_info(obj: Obj) -> RoleBindingInfo | None:
    labels = labels_of(obj)
    workspace = labels.get(LABEL_WORKSPACE)
    user = labels.get(LABEL_USER_REF)
    if not workspace or not user:
        return None
    return RoleBindingInfo(name=name_of(obj), workspace=workspace, user=user)


def federation_leftovers(
    namespaces: tuple[NamespaceInfo, ...], accounts: list[Obj]
) -> tuple[str, ...]:
    """What a former KubeFed join leaves on a member (the host's unjoin does not remove it)."""
    found: list[str] = []
    if any(ns.name == FEDERATION_NAMESPACE for ns in namespaces):
        found.append(f"namespace {FEDERATION_NAMESPACE}")
    for sa in accounts:
        if name_of(sa).endswith("-kubesphere"):
            found.append(f"serviceaccount {FEDERATION_NAMESPACE}/{name_of(sa)}")
    return tuple(found)


# ---- small helpers -------------------------------------------------------------------------


def dig(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def text(value: Any) -> str | None:
    return str(value) if value is not None and value != "" else None


def name_of(obj: Obj) -> str:
    return text(dig(obj, "metadata", "name")) or ""


def rv_of(obj: Obj) -> str:
    return text(dig(obj, "metadata", "resourceVersion")) or ""


def labels_of(obj: Obj) -> dict[str, str]:
    labels = dig(obj, "metadata", "labels")
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}


def deleting(obj: Obj) -> bool:
    return bool(dig(obj, "metadata", "deletionTimestamp"))
