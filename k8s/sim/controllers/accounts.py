"""KubeSphere's host-side controllers that hand accounts and roles to KubeFed (v3.4.1).

With `multicluster.enable` each of these controllers labels the host original
`kubefed.io/managed: "false"` (ensureNotControlledByKubefed, so KubeFed's adoption leaves it
alone on the host, which is itself a KubeFed member) and creates `Federated<Kind>` of the same
name, controller-owned by the original (garbage collection deletes it with the original), with
`placement.clusterSelector: {}` — every joined cluster. Later it rewrites only the template
fields it copied when they drift; the placement is never touched again. The sync itself is
KubeFed's (`k8s/sim/controllers/kubefed.py`). Sources, all `pkg/controller/...`:

- user/user_controller.go multiClusterSync/createFederatedUser: labels, spec, status.
- globalrole/globalrole_controller.go createFederatedGlobalRole: labels, annotations, rules.
- globalrolebinding/... createFederatedGlobalRoleBinding: labels, annotations, roleRef, subjects.
- workspacerole/... newFederatedWorkspaceRole: labels, rules; skips managed=true copies.
- workspacerolebinding/... newFederatedWorkspaceRoleBinding: labels, roleRef, subjects; skips
  managed=true copies.
- group/group_controller.go createFederatedGroup: labels, spec (only labels are re-synced).
- groupbinding/... createFederatedGroupBinding: labels, groupRef, users.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from k8s.sim.controllers.base import MANAGED, is_host, replace
from k8s.sim.resources import (
    FEDERATEDGLOBALROLEBINDINGS,
    FEDERATEDGLOBALROLES,
    FEDERATEDGROUPBINDINGS,
    FEDERATEDGROUPS,
    FEDERATEDUSERS,
    FEDERATEDWORKSPACEROLEBINDINGS,
    FEDERATEDWORKSPACEROLES,
    GLOBALROLEBINDINGS,
    GLOBALROLES,
    GROUPBINDINGS,
    GROUPS,
    USERS,
    WORKSPACEROLEBINDINGS,
    WORKSPACEROLES,
    ResourceType,
)
from k8s.sim.store import meta

if TYPE_CHECKING:
    from k8s.sim.world import SimCluster, World

Obj = dict[str, Any]


@dataclass(frozen=True)
class Federation:
    """What one KubeSphere controller copies into its Federated<Kind>."""

    original: ResourceType
    federated: ResourceType
    fields: tuple[str, ...]  # top-level fields copied into spec.template
    annotations: bool = False  # template metadata.annotations too (GlobalRole, GlobalRoleBinding)
    skip_managed: bool = False  # return early for kubefed.io/managed=true (member copies)
    resync: tuple[str, ...] | None = None  # fields compared on update; None: all copied ones


FEDERATIONS = (
    Federation(USERS, FEDERATEDUSERS, ("spec", "status")),
    Federation(GLOBALROLES, FEDERATEDGLOBALROLES, ("rules",), annotations=True),
    Federation(
        GLOBALROLEBINDINGS, FEDERATEDGLOBALROLEBINDINGS, ("roleRef", "subjects"), annotations=True
    ),
    Federation(WORKSPACEROLES, FEDERATEDWORKSPACEROLES, ("rules",), skip_managed=True),
    Federation(
        WORKSPACEROLEBINDINGS,
        FEDERATEDWORKSPACEROLEBINDINGS,
        ("roleRef", "subjects"),
        skip_managed=True,
    ),
    Federation(GROUPS, FEDERATEDGROUPS, ("spec",), resync=()),
    Federation(GROUPBINDINGS, FEDERATEDGROUPBINDINGS, ("groupRef", "users")),
)


class AccountFederation:
    """The multiClusterSync half of the user, role, binding and group controllers."""

    watches = frozenset(f.original.key for f in FEDERATIONS)

    def handle(
        self, world: World, cluster: SimCluster, rkey: str, namespace: str, name: str
    ) -> None:
        if not is_host(cluster):
            return  # MultiClusterEnabled is false on members and standalone clusters
        fed = next(f for f in FEDERATIONS if f.original.key == rkey)
        obj = cluster.store.peek(fed.original, "", name)
        if obj is None or meta(obj).get("deletionTimestamp"):
            return  # the Federated<Kind> goes by garbage collection (controller ownerRef)
        labels = meta(obj).get("labels") or {}
        if fed.skip_managed and labels.get(MANAGED) == "true":
            return
        if labels.get(MANAGED) != "false":
            new = copy.deepcopy(obj)
            new["metadata"].setdefault("labels", {})[MANAGED] = "false"
            obj = replace(cluster, fed.original, obj, new)
        template = _template(fed, obj)
        current = cluster.store.peek(fed.federated, "", name)
        if current is None:
            cluster.store.create(
                fed.federated,
                "",
                {
                    "metadata": {"name": name, "ownerReferences": [_controller_ref(fed, obj)]},
                    "spec": {"template": template, "placement": {"clusterSelector": {}}},
                },
            )
            return
        old = (current.get("spec") or {}).get("template") or {}
        compared = ("labels", *(("annotations",) if fed.annotations else ()))
        fields = fed.fields if fed.resync is None else fed.resync
        drift = any(
            ((old.get("metadata") or {}).get(k) or None)
            != ((template.get("metadata") or {}).get(k) or None)
            for k in compared
        ) or any(old.get(k) != template.get(k) for k in fields)
        if drift:
            new = copy.deepcopy(current)
            tpl = new.setdefault("spec", {}).setdefault("template", {})
            tpl["metadata"] = {**(tpl.get("metadata") or {}), **template["metadata"]}
            for k in fields:
                tpl[k] = copy.deepcopy(template.get(k))
            replace(cluster, fed.federated, current, new)


def _template(fed: Federation, obj: Obj) -> Obj:
    md: Obj = {"labels": dict(meta(obj).get("labels") or {})}
    if fed.annotations and meta(obj).get("annotations"):
        md["annotations"] = dict(meta(obj)["annotations"])
    template: Obj = {"metadata": md}
    for k in fed.fields:
        if obj.get(k) is not None:
            template[k] = copy.deepcopy(obj[k])
    return template


def _controller_ref(fed: Federation, obj: Obj) -> Obj:
    return {
        "apiVersion": fed.original.api_version,
        "kind": fed.original.kind,
        "name": meta(obj)["name"],
        "uid": meta(obj)["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
