"""Whether a cluster's tenancy is consistent: namespaces (projects) whose workspace label and
ownerReference disagree, workspaces made on a member instead of through its host, and
workspaces a host places where they are not (or no longer) bound.

Split from `k8s.fleet`, which builds the cluster topology these checks lean on and
re-exports everything here; pure functions of gathered `ClusterFacts`, like the rest of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from k8s.facts import ClusterFacts, NamespaceInfo

if TYPE_CHECKING:
    from k8s.fleet import Fleet

SYSTEM_WORKSPACE = "system-workspace"


# ---- namespaces (projects) -------------------------------------------------------------------


def workspace_exists(f: ClusterFacts, name: str) -> bool:
    """A Workspace, or (on a host, where the template stands for it) a WorkspaceTemplate."""
    return f.workspace(name) is not None or f.template(name) is not None


def namespace_issue(f: ClusterFacts, ns: NamespaceInfo) -> str | None:
    """Why a namespace's workspace label and its ownerReference disagree, or None."""
    if ns.deleting:
        return None
    label, owner = ns.workspace, ns.workspace_owner
    if label is not None and not workspace_exists(f, label):
        return f"labelled for workspace {label}, which does not exist on {f.name}"
    workspace = f.workspace(label) if label is not None else None
    if owner is not None and label is None:
        return f"owned by workspace {owner.name} but has no workspace label"
    if owner is not None and label is not None and owner.name != label:
        return f"labelled for workspace {label} but owned by workspace {owner.name}"
    if owner is not None and workspace is not None and owner.uid and owner.uid != workspace.uid:
        return (
            f"its owner reference points at an earlier workspace {label} (stale UID): "
            "garbage collection may delete it"
        )
    if label is not None and owner is None and workspace is not None and not ns.kubefed_managed:
        return f"labelled for workspace {label} but not bound to it (no owner reference)"
    return None


@dataclass(frozen=True)
class ProjectRow:
    name: str
    workspace: str | None
    kubefed_managed: bool
    deleting: bool
    issue: str | None


def projects(f: ClusterFacts, workspace: str | None = None) -> list[ProjectRow]:
    """The cluster's namespaces (of one workspace if given): inconsistent ones first, then by
    workspace (none last) and name."""
    rows = [
        ProjectRow(ns.name, ns.workspace, ns.kubefed_managed, ns.deleting, namespace_issue(f, ns))
        for ns in f.namespaces
        if workspace is None
        or ns.workspace == workspace
        or (ns.workspace_owner is not None and ns.workspace_owner.name == workspace)
    ]
    rows.sort(key=lambda r: (r.issue is None, r.workspace is None, r.workspace or "", r.name))
    return rows


# ---- workspaces ----------------------------------------------------------------------------


def workspace_drift(member: ClusterFacts, host: ClusterFacts | None) -> list[str]:
    """Workspaces on a member that did not come from its current host: made on the member itself
    (neither kubefed-managed nor built-in), or kubefed-managed but not placed here by the host."""
    made_here = {w.name for w in member.workspaces if not w.kubefed_managed}
    made_here |= {t.name for t in member.workspace_templates}
    local = sorted(made_here - {SYSTEM_WORKSPACE})
    out: list[str] = []
    if local:
        out.append(f"created on the member itself, not through a host: {', '.join(local)}")
    if host is not None and host.reachable:
        stale = sorted(
            w.name
            for w in member.workspaces
            if w.kubefed_managed and not _placed(host, w.name, member.name)
        )
        if stale:
            out.append(f"kubefed-managed but not placed here by {host.name}: {', '.join(stale)}")
    return out


def _placed(host: ClusterFacts, workspace: str, cluster: str) -> bool:
    """Whether `host` places `workspace` on `cluster` (a selector placement counts as yes)."""
    placements = [t.placement_clusters for t in host.workspace_templates if t.name == workspace]
    placements += [
        fw.placement_clusters for fw in host.federated_workspaces if fw.name == workspace
    ]
    return any(p is None or cluster in p for p in placements)


@dataclass(frozen=True)
class WorkspacePlace:
    """One workspace on one cluster."""

    cluster: str
    present: bool  # a Workspace (or, on a host, a WorkspaceTemplate) exists there
    projects: int
    origin: str  # "template" (a host's own) | "host <name>" | "local" | "stale" | "missing"


@dataclass(frozen=True)
class WorkspaceRow:
    name: str
    hosts: tuple[str, ...]  # clusters holding a WorkspaceTemplate of that name, as hosts
    placement: tuple[str, ...]  # clusters those templates place it on
    places: tuple[WorkspacePlace, ...]
    issues: tuple[str, ...]

    @property
    def builtin(self) -> bool:
        return self.name == SYSTEM_WORKSPACE

    @property
    def projects(self) -> int:
        return sum(p.projects for p in self.places)


def workspaces(fleet: Fleet, cluster: str | None = None) -> list[WorkspaceRow]:
    """Every workspace of the fleet (or those on / placed on / held by `cluster`): placement on
    hosts, presence and project counts on each cluster, drift flagged. Problems first."""
    facts = {n: f for n, f in fleet.facts.items() if f.reachable}
    names: set[str] = set()
    for f in facts.values():
        names |= {w.name for w in f.workspaces} | {t.name for t in f.workspace_templates}
        names |= {ns.workspace for ns in f.namespaces if ns.workspace}
    rows: list[WorkspaceRow] = []
    for ws in sorted(names):
        row = _workspace_row(fleet, facts, ws)
        if cluster is None or cluster in row.hosts or any(p.cluster == cluster for p in row.places):
            rows.append(row)
    rows.sort(key=lambda r: (r.builtin, not r.issues, r.name))
    return rows


def _workspace_row(fleet: Fleet, facts: Mapping[str, ClusterFacts], ws: str) -> WorkspaceRow:
    hosts = tuple(n for n, f in sorted(facts.items()) if f.is_host and f.template(ws) is not None)
    placement = sorted(
        {
            c
            for h in hosts
            for t in facts[h].workspace_templates
            if t.name == ws and t.placement_clusters
            for c in t.placement_clusters
        }
    )
    places: list[WorkspacePlace] = []
    issues: list[str] = []
    for name, f in sorted(facts.items()):
        count = len(f.namespaces_in(ws))
        w, t = f.workspace(ws), f.template(ws)
        row = fleet.row(name)
        host = row.host if row is not None else None
        if f.is_host:
            if t is None and w is None and not count:
                continue
            origin = "template" if t is not None else ("local" if w is not None else "missing")
            if origin == "missing":
                issues.append(
                    f"{count} project(s) on {name} are labelled for it, but it is not there"
                )
            places.append(WorkspacePlace(name, origin != "missing", count, origin))
            continue
        if w is None and t is None:
            if name in placement:
                places.append(WorkspacePlace(name, False, count, "missing"))
                issues.append(f"placed on {name} but missing there")
            elif count:
                places.append(WorkspacePlace(name, False, count, "missing"))
                issues.append(
                    f"{count} project(s) on {name} are labelled for it, but it is not there"
                )
            continue
        if ws == SYSTEM_WORKSPACE:
            origin = "built-in"
        elif (w is not None and not w.kubefed_managed) or (w is None and t is not None):
            origin = "local"
            issues.append(f"created on {name} itself, not through a host (drift)")
        elif host is not None and host in facts and _placed(facts[host], ws, name):
            origin = f"host {host}"
        else:
            origin = "stale"
            why = f"{host} does not place it there" if host else f"{name} is bound to no host"
            issues.append(f"kubefed-managed on {name} but {why} (left over?)")
        places.append(WorkspacePlace(name, True, count, origin))
    for h in hosts:  # unbinding a member does not edit the old host's placements (#3084)
        template = facts[h].template(ws)
        for c in (template.placement_clusters or ()) if template is not None else ():
            placed = fleet.row(c)
            if placed is not None and placed.reachable and placed.host != h:
                now = f"is bound to {placed.host}" if placed.host else "is bound to no host"
                issues.append(f"{h} still places it on {c}, which {now}")
    return WorkspaceRow(ws, hosts, tuple(placement), tuple(places), tuple(issues))
