"""The fleet as people ask about it in chat: pure functions from gathered `ClusterFacts`.

Which host each member is bound to is decided the way KubeSphere decides it: a host's `Cluster`
object claims a member by the member's kube-system UID (`status.uid`), not by name. Everything
else the chat answers show (jwtSecret groups, orphaned namespaces, workspace drift, component
differences) is derived here, without I/O, so it can be tested from hand-made facts and rendered
for Slack, the App Home tab and the console alike. Nothing here ever sees a secret: jwtSecrets
arrive as fingerprints and leave as group letters ("A", "B").
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from k8s.facts import ClusterFacts, NamespaceInfo

Severity = Literal["error", "warning", "info"]
SEVERITY_ORDER: dict[Severity, int] = {"error": 0, "warning": 1, "info": 2}
SYSTEM_WORKSPACE = "system-workspace"
#: Components a member does not need even when its host has them (KubeSphere docs: the App
#: Store needs enabling only on the host).
HOST_ONLY_COMPONENTS = frozenset({"appstore"})
#: States of a request that is moving a member right now (or is about to).
IN_FLIGHT_STATES = frozenset({"approved", "scheduled", "running"})


@dataclass(frozen=True)
class Finding:
    """Something wrong (or worth knowing) about one cluster. `text` is plain, unescaped."""

    severity: Severity
    cluster: str
    kind: str  # unreachable | not-ready | unbound | bound-twice | jwt | namespaces | drift | …
    text: str


@dataclass(frozen=True)
class InFlight:
    """A migration request that holds a member (from the request service)."""

    request_id: str
    state: str
    member: str
    target_host: str
    visible: bool = True  # False: another Slack workspace's request (its id is not shown)


@dataclass(frozen=True)
class Binding:
    """A host's `Cluster` object that claims a cluster."""

    host: str
    object_name: str  # the Cluster object's name on the host (normally the member's name)
    ready: bool
    message: str
    by: Literal["uid", "name"]  # "name" only when the member itself could not be read
    deleting: bool = False


@dataclass(frozen=True)
class ClusterRow:
    name: str
    reachable: bool
    error: str | None
    role: str  # host | member | none | unknown
    ks_version: str | None
    kubernetes_version: str | None
    nodes: int | None
    bindings: tuple[Binding, ...]
    jwt_group: str | None
    migration: InFlight | None
    problems: int  # findings of severity error or warning about this cluster

    @property
    def host(self) -> str | None:
        return self.bindings[0].host if self.bindings else None

    @property
    def ready(self) -> bool | None:
        """Whether the host it is bound to sees it Ready; None when it is bound to no host."""
        return self.bindings[0].ready if self.bindings else None


@dataclass(frozen=True)
class Fleet:
    rows: tuple[ClusterRow, ...]  # clusters with problems first, then by name
    findings: tuple[Finding, ...]  # errors, then warnings, then info
    jwt_groups: tuple[tuple[str, tuple[str, ...]], ...]  # ("A", ("host-a", "member-a")), …
    facts: Mapping[str, ClusterFacts]

    def row(self, name: str) -> ClusterRow | None:
        return next((r for r in self.rows if r.name == name), None)

    def about(self, cluster: str) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.cluster == cluster)

    def members_of(self, host: str) -> tuple[str, ...]:
        return tuple(sorted(r.name for r in self.rows if r.host == host and r.name != host))

    def count(self, *severities: Severity) -> int:
        return sum(1 for f in self.findings if f.severity in severities)

    @property
    def migrations(self) -> tuple[InFlight, ...]:
        return tuple(r.migration for r in self.rows if r.migration is not None)


# ---- the fleet ---------------------------------------------------------------------------------


def jwt_groups(facts: Mapping[str, ClusterFacts]) -> dict[str, str]:
    """Cluster name → group letter; clusters that share a jwtSecret share a letter. Letters go
    in order of each secret's first cluster by name, so the labels are stable between asks."""
    letters: dict[str, str] = {}
    out: dict[str, str] = {}
    for name in sorted(facts):
        fp = facts[name].jwt_fingerprint
        if not facts[name].reachable or fp is None:
            continue
        if fp not in letters:
            letters[fp] = _letter(len(letters))
        out[name] = letters[fp]
    return out


def _letter(i: int) -> str:
    letters = string.ascii_uppercase
    return letters[i] if i < len(letters) else f"{letters[i // 26 - 1]}{letters[i % 26]}"


def bindings(facts: Mapping[str, ClusterFacts]) -> dict[str, list[Binding]]:
    """Cluster name → the hosts' Cluster objects that claim it: by kube-system UID, or by name
    when the cluster itself cannot be read (or has not joined yet, so no UID is claimed)."""
    by_uid = {
        f.kube_system_uid: name
        for name, f in facts.items()
        if f.reachable and f.kube_system_uid is not None
    }
    out: dict[str, list[Binding]] = {}
    for host_name in sorted(facts):
        host = facts[host_name]
        if not host.reachable:
            continue
        for co in host.cluster_objects:
            if co.is_host_itself:
                continue
            target: str | None = None
            by: Literal["uid", "name"] = "uid"
            if co.uid_claimed is not None and co.uid_claimed in by_uid:
                target = by_uid[co.uid_claimed]
            elif co.name in facts and not facts[co.name].reachable:
                target, by = co.name, "name"
            elif co.name in facts and co.uid_claimed is None:
                target, by = co.name, "name"  # not joined yet: it is this one or none
            if target is None or target == host_name:
                continue
            out.setdefault(target, []).append(
                Binding(host_name, co.name, co.ready, co.ready_message, by, co.deleting)
            )
    return out


def _stray_cluster_objects(facts: Mapping[str, ClusterFacts]) -> list[Finding]:
    """Cluster objects on a host that claim a cluster other than the one their name says, or
    one the bot cannot see."""
    by_uid = {
        f.kube_system_uid: name
        for name, f in facts.items()
        if f.reachable and f.kube_system_uid is not None
    }
    found: list[Finding] = []
    for host_name in sorted(facts):
        host = facts[host_name]
        if not host.reachable:
            continue
        for co in host.cluster_objects:
            if co.is_host_itself:
                continue
            claimed = by_uid.get(co.uid_claimed) if co.uid_claimed else None
            if claimed is not None:
                if claimed != co.name:
                    found.append(
                        Finding(
                            "info",
                            claimed,
                            "renamed",
                            f"imported into {host_name} under another name, {co.name}",
                        )
                    )
                continue
            known = facts.get(co.name)
            if known is not None and known.reachable and co.uid_claimed is not None:
                found.append(
                    Finding(
                        "warning",
                        host_name,
                        "stale-cluster",
                        f"its Cluster object {co.name} claims kube-system UID "
                        f"{co.uid_claimed}, which is not {co.name}'s (was the cluster "
                        "rebuilt?)",
                    )
                )
            elif known is None:
                found.append(
                    Finding(
                        "info",
                        host_name,
                        "outside",
                        f"has Cluster {co.name}, a cluster the bot's kubeconfig does not name",
                    )
                )
    return found


def build_fleet(facts: Mapping[str, ClusterFacts], migrations: Iterable[InFlight] = ()) -> Fleet:
    """Everything `clusters`, `status` and the App Home tab show, from facts of every cluster."""
    groups = jwt_groups(facts)
    bound = bindings(facts)
    moving = {m.member: m for m in migrations}
    findings: list[Finding] = []
    roles: dict[str, str] = {}
    for name in sorted(facts):
        f = facts[name]
        claims = bound.get(name, [])
        roles[name] = _role(f, bool(claims))
        findings += _cluster_findings(f, roles[name], claims, facts, groups)
    findings += _stray_cluster_objects(facts)
    findings.sort(key=lambda x: (SEVERITY_ORDER[x.severity], x.cluster, x.kind))
    serious = {
        name: sum(1 for x in findings if x.cluster == name and x.severity != "info")
        for name in facts
    }
    rows = [
        ClusterRow(
            name=name,
            reachable=f.reachable,
            error=f.error,
            role=roles[name],
            ks_version=f.ks_version,
            kubernetes_version=f.kubernetes_version,
            nodes=f.node_count,
            bindings=tuple(bound.get(name, [])),
            jwt_group=groups.get(name),
            migration=moving.get(name),
            problems=serious[name],
        )
        for name, f in facts.items()
    ]
    rows.sort(key=lambda r: (r.reachable, r.problems == 0, r.name))
    letters: dict[str, list[str]] = {}
    for name, letter in groups.items():
        letters.setdefault(letter, []).append(name)
    return Fleet(
        rows=tuple(rows),
        findings=tuple(findings),
        jwt_groups=tuple((k, tuple(sorted(v))) for k, v in sorted(letters.items())),
        facts=facts,
    )


def _role(f: ClusterFacts, claimed: bool) -> str:
    if not f.reachable:
        return "member" if claimed else "unknown"
    if f.is_host or f.cluster_role == "host":
        return "host"
    if f.cluster_role == "member" or claimed:
        return "member"
    return "none"


def _cluster_findings(
    f: ClusterFacts,
    role: str,
    claims: list[Binding],
    facts: Mapping[str, ClusterFacts],
    groups: Mapping[str, str],
) -> list[Finding]:
    name = f.name
    out: list[Finding] = []
    if not f.reachable:
        out.append(Finding("error", name, "unreachable", f.error or "could not be read"))
    elif f.error:
        out.append(Finding("warning", name, "partial", f"only partly read: {f.error}"))
    hosts = sorted({b.host for b in claims})
    if len(hosts) > 1:
        out.append(
            Finding(
                "error",
                name,
                "bound-twice",
                f"claimed by {len(hosts)} hosts ({', '.join(hosts)}); a cluster must have one",
            )
        )
    for b in claims:
        if b.deleting:
            out.append(Finding("warning", name, "unbinding", f"being removed from {b.host}"))
        elif not b.ready:
            why = f": {b.message}" if b.message else ""
            out.append(Finding("error", name, "not-ready", f"{b.host} does not see it Ready{why}"))
    if f.reachable and role == "member" and not claims:
        unread = sorted(n for n, x in facts.items() if not x.reachable)
        where = "no reachable host" if unread else "no host"
        out.append(Finding("warning", name, "unbound", f"its role is member but {where} has it"))
        if f.federation_leftovers:
            left = ", ".join(f.federation_leftovers)
            out.append(Finding("info", name, "leftovers", f"left behind by a former host: {left}"))
    if f.reachable and claims and f.cluster_role not in (None, "member"):
        out.append(
            Finding(
                "warning",
                name,
                "role",
                f"bound to {claims[0].host} but its clusterRole is {f.cluster_role}",
            )
        )
    if f.reachable and claims:
        host = facts.get(claims[0].host)
        mine, theirs = groups.get(name), groups.get(claims[0].host)
        if mine and theirs and mine != theirs:
            out.append(
                Finding(
                    "error",
                    name,
                    "jwt",
                    f"its jwtSecret (group {mine}) differs from its host {claims[0].host}'s "
                    f"(group {theirs}): logins fail with 'signature is invalid'",
                )
            )
        if host is not None and host.reachable:
            diff = component_diff(f, host, member_vs_host=True)
            if diff:
                listed = ", ".join(
                    f"{d.name} ({host.name}: {_on(d.right)}, here: {_on(d.left)})" for d in diff
                )
                out.append(
                    Finding(
                        "info", name, "components", f"components differ from its host: {listed}"
                    )
                )
    if f.reachable:
        odd = [(ns, issue) for ns in f.namespaces if (issue := namespace_issue(f, ns))]
        if odd:
            names = ", ".join(ns.name for ns, _ in odd[:5]) + (", …" if len(odd) > 5 else "")
            out.append(
                Finding(
                    "warning",
                    name,
                    "namespaces",
                    f"{len(odd)} project{'s' if len(odd) != 1 else ''} with an inconsistent "
                    f"workspace binding ({names})",
                )
            )
    if f.reachable and role == "member":
        host_facts = facts.get(claims[0].host) if claims else None
        drift = workspace_drift(f, host_facts)
        if drift:
            out.append(Finding("warning", name, "drift", "; ".join(drift)))
    return out


def _on(enabled: bool | None) -> str:
    return "on" if enabled else "off"


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


def _labelled_but_absent(count: int, cluster: str) -> str:
    return f"{count} project(s) on {cluster} are labelled for it, but it is not there"


# ---- components ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ComponentDiff:
    name: str
    left: bool | None  # None: the cluster does not report it
    right: bool | None


def component_diff(
    left: ClusterFacts, right: ClusterFacts, *, member_vs_host: bool = False
) -> list[ComponentDiff]:
    """Components enabled on one cluster and not the other. With `member_vs_host`, components
    only a host needs (the App Store) are left out."""
    a, b = left.component_map(), right.component_map()
    out: list[ComponentDiff] = []
    for name in sorted(set(a) | set(b)):
        if member_vs_host and name in HOST_ONLY_COMPONENTS:
            continue
        if a.get(name, False) != b.get(name, False):
            out.append(ComponentDiff(name, a.get(name), b.get(name)))
    return out
