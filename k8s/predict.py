"""Predicting consequences: the rules of each controller, applied to the gathered facts.

Each rule follows the upstream code it is named after (see `k8s/consequences.py` for the model
and docs/simulator.md for where the simulator reproduces the same behaviour).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from k8s import predict_apps as apps
from k8s.consequences import (
    NOTIFICATION_CLEANUP,
    Action,
    Consequence,
    Writes,
    joined,
)
from k8s.facts import ClusterFacts, ManagedInfo, NamespaceInfo
from k8s.placement import Placement
from k8s.spec import SYSTEM_WORKSPACE, MigrationSpec


def predict(
    spec: MigrationSpec,
    facts: Mapping[str, ClusterFacts],
    old_host: ClusterFacts | None,
    writes: Writes,
) -> tuple[Consequence, ...]:
    member = facts[spec.member]
    target = facts[spec.target_host]
    out: list[Consequence] = []
    out += _credential(member, target, old_host, writes)
    doomed_ns = _member_workspace_deletion(spec, member, old_host, writes, out)
    if old_host is not None:
        out += _old_host_placement(member, old_host, writes)
        out += _stranded(member, old_host, writes)
        out += _unbind_cleanup(member, old_host)
    out += _placement_changes(member, target, writes)
    out += _new_host_federation(spec, member, target, writes, doomed_ns)
    return tuple(_dedupe(out))


# ---- the member's moving workspaces ---------------------------------------------------------


def _member_workspace_deletion(
    spec: MigrationSpec,
    member: ClusterFacts,
    old_host: ClusterFacts | None,
    writes: Writes,
    out: list[Consequence],
) -> set[str]:
    m = member.name
    by = (
        f"KubeFed on {old_host.name} once {m} leaves the placement, and the plan's delete step"
        if old_host is not None
        else "the plan's delete step"
    )
    doomed: set[str] = set()
    for ws in sorted(writes.moving):
        if member.workspace(ws) is None and member.template(ws) is None:
            continue
        out.append(Consequence(m, Action.DELETE, "Workspace", ws, by, requested=True))
        for ns in _bound_to(member, ws):
            if ns.name in writes.keep or ns.deleting:
                continue
            doomed.add(ns.name)
            out.append(
                Consequence(
                    m,
                    Action.DELETE,
                    "Namespace",
                    ns.name,
                    f"garbage collection: owned by workspace {ws}",
                    requested=ns.name in spec.discard,
                )
            )
        for rb in member.managed:
            if rb.workspace == ws and rb.kind in ("WorkspaceRoleBinding", "WorkspaceRole"):
                out.append(
                    Consequence(
                        m, Action.DELETE, rb.kind, rb.name, f"goes with workspace {ws}", True
                    )
                )
    out += apps.consequences(spec, member, old_host, writes, doomed)
    return doomed


def _bound_to(member: ClusterFacts, ws: str) -> list[NamespaceInfo]:
    return [
        n
        for n in member.namespaces
        if n.workspace == ws or (n.workspace_owner is not None and n.workspace_owner.name == ws)
    ]


# ---- the old host --------------------------------------------------------------------------


def _old_host_placement(
    member: ClusterFacts, old: ClusterFacts, writes: Writes
) -> list[Consequence]:
    """Rewriting a template's placement must deselect the member and nothing else."""
    out: list[Consequence] = []
    clusters = joined(old)
    for ws, new in sorted(writes.old_placements.items()):
        tmpl = old.template(ws)
        if tmpl is None:
            continue
        before = tmpl.where.selected(clusters)
        after = Placement(clusters=new).selected(clusters)
        for lost in sorted(before - after - {member.name}):
            out.append(
                Consequence(
                    lost,
                    Action.DELETE,
                    "Workspace",
                    ws,
                    f"KubeFed on {old.name}: the rewritten placement of {ws} no longer selects "
                    f"{lost}",
                )
            )
        if tmpl.where.by_selector:
            out.append(
                Consequence(
                    old.name,
                    Action.CHANGE,
                    "WorkspaceTemplate",
                    ws,
                    f"placement {tmpl.where.describe()} becomes the explicit list "
                    f"[{', '.join(new)}] (the clusters it selects today, without {member.name})",
                    requested=True,
                )
            )
    return out


def _stranded(member: ClusterFacts, old: ClusterFacts, writes: Writes) -> list[Consequence]:
    """What the old host pushed stays on the member after the unbind (KubeSphere's unjoin runs
    without member access: `pkg/controller/cluster/cluster_controller.go`)."""
    out: list[Consequence] = []
    cause = f"pushed by {old.name}'s KubeFed; unbinding leaves it on {member.name}"
    for ws in member.workspaces:
        if ws.kubefed_managed and ws.name not in writes.moving and ws.name != SYSTEM_WORKSPACE:
            out.append(Consequence(member.name, Action.LEAVE, "Workspace", ws.name, cause))
    for ns in member.namespaces:
        if ns.kubefed_managed:
            out.append(
                Consequence(member.name, Action.LEAVE, "MultiClusterNamespace", ns.name, cause)
            )
    for obj in member.managed:
        if obj.workspace in writes.moving:
            continue
        out.append(Consequence(member.name, Action.LEAVE, obj.kind, obj.name, cause))
    return out


def _unbind_cleanup(member: ClusterFacts, old: ClusterFacts) -> list[Consequence]:
    """KubeSphere 3.4 removes the member's notification settings on unbind when the Cluster asks
    for it and is Ready (`cluster_controller.go`, annotation notification.kubesphere.io/cleanup)."""
    obj = old.cluster_object(member.name)
    if obj is None or not obj.ready or dict(obj.annotations).get(NOTIFICATION_CLEANUP) != "true":
        return []
    return [
        Consequence(
            member.name,
            Action.DELETE,
            "NotificationSettings",
            "notification configs and receivers",
            f"{old.name}'s unbind: its Cluster {member.name} is annotated "
            f"{NOTIFICATION_CLEANUP}=true",
            requested=True,
        )
    ]


def _credential(
    member: ClusterFacts, target: ClusterFacts, old: ClusterFacts | None, writes: Writes
) -> list[Consequence]:
    out: list[Consequence] = []
    if writes.credential and target.name not in member.host_credentials:
        out.append(
            Consequence(
                member.name,
                Action.CREATE,
                "ServiceAccount",
                writes.credential,
                f"the credential {target.name} will use to manage {member.name}",
                requested=True,
            )
        )
    if writes.revoked and old is not None:
        out.append(
            Consequence(
                member.name,
                Action.DELETE,
                "ServiceAccount",
                writes.revoked,
                f"{old.name}'s credential, revoked when it lets go of {member.name}",
                requested=True,
            )
        )
    return out


# ---- the new host --------------------------------------------------------------------------


def _placement_changes(
    member: ClusterFacts, target: ClusterFacts, writes: Writes
) -> list[Consequence]:
    out: list[Consequence] = []
    clusters = joined(target)
    for ws, new in sorted(writes.target_placements.items()):
        tmpl = target.template(ws)
        if tmpl is None:
            continue
        before = tmpl.where.selected(clusters)
        lost = sorted(before - set(new))
        for name in lost:
            out.append(
                Consequence(
                    name,
                    Action.DELETE,
                    "Workspace",
                    ws,
                    f"KubeFed on {target.name}: the new placement of {ws} no longer selects {name}",
                )
            )
        if tmpl.where.by_selector:
            out.append(
                Consequence(
                    target.name,
                    Action.CHANGE,
                    "WorkspaceTemplate",
                    ws,
                    f"placement {tmpl.where.describe()} becomes the explicit list "
                    f"[{', '.join(new)}]: every cluster it selects today plus {member.name}; "
                    "clusters labelled later are no longer added by themselves",
                    requested=True,
                )
            )
    return out


def _new_host_federation(
    spec: MigrationSpec,
    member: ClusterFacts,
    target: ClusterFacts,
    writes: Writes,
    doomed_ns: set[str],
) -> list[Consequence]:
    """After the join, the new host's KubeFed reconciles every federated object into the member:
    it creates what selects the member, and deletes any object it manages that does not."""
    m, t = member.name, target.name
    out: list[Consequence] = []
    gone_ws = set(writes.moving)
    managed_now = _managed_at_join(member, writes, gone_ws, doomed_ns)
    for fed in target.federated:
        if fed.deleting:
            continue
        placement = fed.placement
        if fed.kind == "Workspace" and fed.name in writes.target_placements:
            placement = Placement(clusters=writes.target_placements[fed.name])
        selected = placement.selects(m, writes.join_labels)
        exists = (fed.kind, fed.name) in managed_now or _exists(member, fed.kind, fed.name)
        if selected:
            action = Action.TAKE_OVER if exists and fed.kind != "Workspace" else Action.CREATE
            if fed.kind == "Workspace" and exists and fed.name not in gone_ws:
                action = Action.TAKE_OVER
            out.append(
                Consequence(
                    m,
                    action,
                    _kind(fed.kind, managed=True),
                    fed.name,
                    f"KubeFed on {t}: Federated{fed.kind} {fed.name} places {placement.describe()}",
                    requested=True,
                )
            )
            continue
        if (fed.kind, fed.name) not in managed_now:
            continue
        cause = (
            f"KubeFed on {t}: Federated{fed.kind} {fed.name} places {placement.describe()}, "
            f"which leaves out {m}, so it deletes the copy it finds on {m}"
        )
        out.append(Consequence(m, Action.DELETE, _kind(fed.kind, managed=True), fed.name, cause))
        if fed.kind == "Workspace":
            for ns in _bound_to(member, fed.name):
                if ns.name in writes.keep or ns.name in doomed_ns:
                    continue
                out.append(
                    Consequence(
                        m,
                        Action.DELETE,
                        "Namespace",
                        ns.name,
                        f"garbage collection: owned by workspace {fed.name}, which {t}'s KubeFed "
                        "deletes",
                        requested=ns.name in spec.discard,
                    )
                )
            for rel in member.releases:
                bound = member.namespace(rel.namespace)
                if bound is not None and bound.workspace == fed.name and not rel.deleting:
                    out.append(
                        Consequence(
                            m,
                            Action.UNINSTALL,
                            "HelmRelease",
                            f"{rel.namespace}/{rel.name}",
                            f"its namespace goes with workspace {fed.name}, which {t}'s KubeFed "
                            "deletes",
                            requested=rel.namespace in spec.discard,
                        )
                    )
    for ws in sorted(set(writes.target_placements) - set(writes.created_templates)):
        out.append(
            Consequence(
                m, Action.CREATE, "Workspace", ws, f"KubeFed on {t}: placed on {m}", requested=True
            )
        )
    for ws in writes.created_templates:
        out.append(
            Consequence(
                t,
                Action.CREATE,
                "WorkspaceTemplate",
                ws,
                f"the plan creates it, placed on {m}",
                requested=True,
            )
        )
        out.append(
            Consequence(
                m, Action.CREATE, "Workspace", ws, f"KubeFed on {t}: placed on {m}", requested=True
            )
        )
    return out


def _managed_at_join(
    member: ClusterFacts, writes: Writes, gone_ws: set[str], doomed_ns: set[str]
) -> set[tuple[str, str]]:
    """(kind, name) of kubefed-managed objects still on the member when it joins the new host."""
    found: set[tuple[str, str]] = set()
    for ws in member.workspaces:
        if ws.kubefed_managed and ws.name not in gone_ws and not ws.deleting:
            found.add(("Workspace", ws.name))
    for ns in member.namespaces:
        if ns.kubefed_managed and ns.name not in doomed_ns and not ns.deleting:
            found.add(("Namespace", ns.name))
    for obj in _still_there(member.managed, gone_ws):
        found.add((obj.kind, obj.name))
    return found


def _still_there(managed: Iterable[ManagedInfo], gone_ws: set[str]) -> Iterable[ManagedInfo]:
    return (o for o in managed if o.workspace not in gone_ws or o.workspace is None)


def _exists(member: ClusterFacts, kind: str, name: str) -> bool:
    if kind == "Workspace":
        return member.workspace(name) is not None
    if kind == "Namespace":
        return member.namespace(name) is not None
    if kind == "User":
        return name in member.users
    return any(o.kind == kind and o.name == name for o in member.managed)


def _kind(kind: str, managed: bool) -> str:
    return "MultiClusterNamespace" if kind == "Namespace" and managed else kind


def _dedupe(items: list[Consequence]) -> list[Consequence]:
    decided = {(c.cluster, c.kind, c.name) for c in items if c.action is not Action.LEAVE}
    items = [
        c
        for c in items
        if c.action is not Action.LEAVE or (c.cluster, c.kind, c.name) not in decided
    ]
    seen: dict[tuple[str, str, str, str], Consequence] = {}
    for c in items:
        key = (c.cluster, c.action.value, c.kind, c.name)
        if key not in seen or (seen[key].requested and not c.requested):
            seen[key] = c  # the unrequested reading wins: it is the one that must block
    return sorted(seen.values(), key=lambda c: (c.cluster, c.action.value, c.kind, c.name))
