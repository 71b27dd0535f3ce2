"""The fleet as people ask about it in chat: pure functions from gathered `ClusterFacts`.

Which host each member is bound to is decided the way KubeSphere decides it, in
`k8s.fleet.claims`, which preflight asks too: a host's `Cluster` object claims a member by the
member's kube-system UID (`status.uid`), not by name. Everything else the chat answers show
(jwtSecret groups, orphaned namespaces, workspace drift, component differences) is derived here,
without I/O, so it can be tested from hand-made facts and rendered for Slack, the App Home tab
and the console alike; the namespace and workspace consistency checks live in
`k8s.fleet.projects` and are re-exported here. Nothing here ever sees a
secret: jwtSecrets arrive as fingerprints and leave as group letters ("A", "B").
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from k8s.facts import ClusterFacts
from k8s.fleet.claims import Binding, claimed, cluster_objects, identities
from k8s.fleet.claims import claims as claims_of
from k8s.fleet.components import HOST_ONLY_COMPONENTS, ComponentDiff, component_diff
from k8s.fleet.projects import (
    SYSTEM_WORKSPACE,
    ProjectRow,
    WorkspacePlace,
    WorkspaceRow,
    namespace_issue,
    projects,
    workspace_drift,
    workspace_exists,
    workspaces,
)

__all__ = [
    "HOST_ONLY_COMPONENTS",
    "SEVERITY_ORDER",
    "SYSTEM_WORKSPACE",
    "Binding",
    "ClusterRow",
    "ComponentDiff",
    "Finding",
    "Fleet",
    "InFlight",
    "ProjectRow",
    "Severity",
    "WorkspacePlace",
    "WorkspaceRow",
    "build_fleet",
    "component_diff",
    "jwt_groups",
    "namespace_issue",
    "projects",
    "workspace_drift",
    "workspace_exists",
    "workspaces",
]

Severity = Literal["error", "warning", "info"]
SEVERITY_ORDER: dict[Severity, int] = {"error": 0, "warning": 1, "info": 2}


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


def _stray_cluster_objects(facts: Mapping[str, ClusterFacts]) -> list[Finding]:
    """Cluster objects on a host that claim a cluster other than the one their name says, or
    one the bot cannot see."""
    by_uid = identities(facts)
    found: list[Finding] = []
    for host_name, co in cluster_objects(facts):
        claim = claimed(co, facts, by_uid)
        if claim is not None:
            target, by = claim
            if by == "uid" and target != co.name:
                found.append(
                    Finding(
                        "info",
                        target,
                        "renamed",
                        f"imported into {host_name} under another name, {co.name}",
                    )
                )
            continue
        if co.name in facts:  # readable, and the UID it claims is not its own
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
        else:
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
    bound = claims_of(facts)
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
