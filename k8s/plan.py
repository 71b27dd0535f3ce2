"""The migration plan: computed from cluster facts, shown to the approver, executed exactly.

The plan is data: every namespace that is kept, deleted or left alone is named, and every step
names its cluster and objects, so the approver sees everything the executor will touch, and the
executor can tell whether the world has changed since approval by computing it again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from k8s import credentials
from k8s.consequences import Consequence, Writes, joined
from k8s.facts import ClusterFacts
from k8s.plan_steps import plan_steps
from k8s.predict import predict
from k8s.spec import SYSTEM_WORKSPACE, MigrationSpec
from k8s.step import Step as Step


@dataclass(frozen=True)
class Plan:
    spec: MigrationSpec
    old_host: str | None
    member_uid: str
    moving_workspaces: dict[str, str]  # workspace on the member → workspace on the target host
    keep: tuple[str, ...]  # namespaces that move with the member, re-bound on the target
    delete: tuple[str, ...]  # namespaces deleted with their workspace (named in discard)
    untouched: tuple[str, ...]  # namespaces on the member the plan leaves as they are
    create_workspaces: tuple[str, ...]  # workspaces created on the target host
    extend_workspaces: tuple[str, ...]  # existing target workspaces the member is added to
    identity: dict[str, str]  # uids the plan was computed from (object → uid)
    steps: tuple[Step, ...]
    consequences: tuple[Consequence, ...] = ()  # what every controller will do because of it

    @property
    def unrequested_deletions(self) -> tuple[Consequence, ...]:
        return tuple(c for c in self.consequences if c.blocks)

    def to_json(self) -> dict[str, Any]:
        return {
            "spec": self.spec.to_json(),
            "old_host": self.old_host,
            "member_uid": self.member_uid,
            "moving_workspaces": dict(self.moving_workspaces),
            "keep": list(self.keep),
            "delete": list(self.delete),
            "untouched": list(self.untouched),
            "create_workspaces": list(self.create_workspaces),
            "extend_workspaces": list(self.extend_workspaces),
            "identity": dict(self.identity),
            "steps": [s.to_json() for s in self.steps],
            "consequences": [c.to_json() for c in self.consequences],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Plan:
        return cls(
            spec=MigrationSpec.from_json(data["spec"]),
            old_host=data.get("old_host"),
            member_uid=str(data["member_uid"]),
            moving_workspaces=dict(data["moving_workspaces"]),
            keep=tuple(data["keep"]),
            delete=tuple(data["delete"]),
            untouched=tuple(data["untouched"]),
            create_workspaces=tuple(data["create_workspaces"]),
            extend_workspaces=tuple(data["extend_workspaces"]),
            identity=dict(data["identity"]),
            steps=tuple(Step.from_json(s) for s in data["steps"]),
            consequences=tuple(Consequence.from_json(c) for c in data.get("consequences") or ()),
        )

    def digest(self) -> str:
        """A stable fingerprint: two plans with the same digest do exactly the same things."""
        text = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def differences(self, other: Plan) -> list[str]:
        """What changed between the approved plan and a fresh one, in words."""
        out: list[str] = []
        for label, mine, theirs in (
            ("kept namespaces", self.keep, other.keep),
            ("deleted namespaces", self.delete, other.delete),
            ("untouched namespaces", self.untouched, other.untouched),
            ("workspaces created", self.create_workspaces, other.create_workspaces),
            ("workspaces extended", self.extend_workspaces, other.extend_workspaces),
        ):
            added, removed = sorted(set(theirs) - set(mine)), sorted(set(mine) - set(theirs))
            if added:
                out.append(f"{label}: now also {', '.join(added)}")
            if removed:
                out.append(f"{label}: no longer {', '.join(removed)}")
        if self.old_host != other.old_host:
            out.append(f"current host: was {self.old_host}, now {other.old_host}")
        if self.moving_workspaces != other.moving_workspaces:
            out.append("the workspaces that move have changed")
        named = set(self.delete) ^ set(other.delete)  # already said above, as deleted namespaces
        mine_c = {_consequence_key(c) for c in self.consequences if not _said(c, named)}
        theirs_c = {_consequence_key(c) for c in other.consequences if not _said(c, named)}
        for key in sorted(theirs_c - mine_c):
            out.append(f"now also: {key}")
        for key in sorted(mine_c - theirs_c):
            out.append(f"no longer: {key}")
        # an object in only one plan is already named above (kept/deleted, workspaces, host)
        for key in sorted(set(self.identity) & set(other.identity)):
            if self.identity[key] != other.identity[key]:
                out.append(f"{key} was replaced (uid changed)")
        if not out and [s.to_json() for s in self.steps] != [s.to_json() for s in other.steps]:
            out.append("the steps differ")
        return out


def moving_workspaces(spec: MigrationSpec, member: ClusterFacts) -> dict[str, str]:
    """Source workspace → target workspace. `keep all` moves every host-managed workspace."""
    if spec.keep_all:
        sources = sorted(
            w.name for w in member.workspaces if w.kubefed_managed and w.name != SYSTEM_WORKSPACE
        )
    else:
        sources = sorted(
            {
                ns.workspace
                for name in spec.keep
                if (ns := member.namespace(name)) is not None and ns.workspace
            }
            - {SYSTEM_WORKSPACE}
        )
    return {src: (spec.into or src) for src in sources}


def _said(c: Consequence, namespaces: set[str]) -> bool:
    """Consequences the kept/deleted/created lines of `differences` already speak for."""
    if c.kind == "WorkspaceTemplate" and c.action.value == "create":
        return True
    return c.kind == "Namespace" and c.name in namespaces


def _consequence_key(c: Consequence) -> str:
    return f"{c.action.value} {c.words()} on {c.cluster}"


def old_host_placements(
    member: ClusterFacts,
    old_host: ClusterFacts,
    moving: Mapping[str, str],
    labels: Mapping[str, str],
) -> dict[str, tuple[str, ...]]:
    """Each moving workspace's new cluster list on the old host: what it selects today without
    the member. A selector placement becomes the explicit list of the clusters it selects now,
    so taking the member out never drops another cluster."""
    clusters = joined(old_host)
    clusters.setdefault(member.name, dict(labels))
    out: dict[str, tuple[str, ...]] = {}
    for ws in sorted(moving):
        tmpl = old_host.template(ws)
        if tmpl is None or not tmpl.where.selects(member.name, clusters[member.name]):
            continue
        if tmpl.where.clusters is not None:
            out[ws] = tuple(c for c in tmpl.where.clusters if c != member.name)
        else:
            out[ws] = tuple(sorted(tmpl.where.selected(clusters) - {member.name}))
    return out


def target_placements(
    member: str, target: ClusterFacts, extend: tuple[str, ...]
) -> dict[str, tuple[str, ...]]:
    """Each existing target workspace's new cluster list: everything it selects today, plus the
    member (KubeFed lets an explicit list override a selector, so the list must carry them)."""
    clusters = joined(target)
    out: dict[str, tuple[str, ...]] = {}
    for ws in extend:
        tmpl = target.template(ws)
        if tmpl is None:
            continue
        if tmpl.where.clusters is not None:
            current = list(tmpl.where.clusters)
            out[ws] = tuple(current + ([member] if member not in current else []))
        else:
            out[ws] = tuple(sorted(tmpl.where.selected(clusters) | {member}))
    return out


def build_plan(
    spec: MigrationSpec,
    member: ClusterFacts,
    target: ClusterFacts,
    old_host: ClusterFacts | None,
    facts: Mapping[str, ClusterFacts] | None = None,
) -> Plan:
    """The plan for the facts as they are; preflight decides separately whether it may run."""
    moving = moving_workspaces(spec, member)
    in_moving = [n for n in member.namespaces if n.workspace in moving]
    keep = (
        tuple(sorted(n.name for n in in_moving))
        if spec.keep_all
        else tuple(sorted(n for n in spec.keep if member.namespace(n) is not None))
    )
    delete = tuple(sorted(n.name for n in in_moving if n.name not in keep))
    untouched = tuple(
        sorted(n.name for n in member.namespaces if n.name not in keep and n.name not in delete)
    )
    targets = sorted(set(moving.values()))
    existing = {t.name for t in target.workspace_templates if not t.deleting}
    create = tuple(t for t in targets if t not in existing)
    extend = tuple(t for t in targets if t in existing)
    identity = {f"cluster {member.name}": member.kube_system_uid or ""}
    for ws in sorted(moving):
        info = member.workspace(ws)
        identity[f"workspace {ws} on {member.name}"] = info.uid if info else ""
    for name in keep + delete:
        ns = member.namespace(name)
        identity[f"namespace {name} on {member.name}"] = ns.uid if ns else ""
    old_name = old_host.name if old_host is not None else None
    cluster_labels: dict[str, str] = {}
    old_templates: dict[str, dict[str, Any]] = {}
    old_placements: dict[str, tuple[str, ...]] = {}
    revoked = None
    if old_host is not None:
        obj = old_host.cluster_object(member.name)
        if obj is not None:
            cluster_labels = dict(obj.labels)
            identity[f"cluster object {member.name} on {old_name}"] = obj.uid_claimed or ""
        for src in moving:
            tmpl = old_host.template(src)
            if tmpl is not None:
                old_templates[src] = {
                    "manager": tmpl.manager,
                    "networkIsolation": tmpl.network_isolation,
                    "labels": dict(tmpl.template_labels),
                }
        old_placements = old_host_placements(member, old_host, moving, cluster_labels)
        if old_host.name in member.host_credentials:
            revoked = credentials.account_name(old_host.name)
    new_placements = target_placements(member.name, target, extend)
    writes = Writes(
        moving=moving,
        keep=keep,
        old_placements=old_placements,
        target_placements=new_placements,
        created_templates=create,
        join_labels=cluster_labels,
        credential=credentials.account_name(target.name),
        revoked=revoked,
    )
    everyone = dict(facts or {})
    for f in (member, target, old_host):
        if f is not None:
            everyone.setdefault(f.name, f)
    consequences = predict(spec, everyone, old_host, writes)
    steps = plan_steps(
        spec,
        member,
        target,
        old_name,
        moving,
        keep,
        delete,
        create,
        extend,
        cluster_labels,
        old_templates,
        old_placements,
        new_placements,
        revoked,
        old_host,
    )
    return Plan(
        spec=spec,
        old_host=old_name,
        member_uid=member.kube_system_uid or "",
        moving_workspaces=moving,
        keep=keep,
        delete=delete,
        untouched=untouched,
        create_workspaces=create,
        extend_workspaces=extend,
        identity=identity,
        steps=tuple(steps),
        consequences=consequences,
    )
