"""The migration plan: computed from cluster facts, shown to the approver, executed exactly.

The plan is data: every namespace that is kept, deleted or left alone is named, and every step
names its cluster and objects, so the approver sees everything the executor will touch, and the
executor can tell whether the world has changed since approval by computing it again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from k8s.facts import ClusterFacts
from k8s.spec import SYSTEM_WORKSPACE, MigrationSpec


@dataclass(frozen=True)
class Step:
    kind: str  # the step class in k8s/steps/
    cluster: str
    title: str
    params: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "cluster": self.cluster,
            "title": self.title,
            "params": self.params,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Step:
        return cls(
            str(data["kind"]), str(data["cluster"]), str(data["title"]), dict(data["params"])
        )


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


def build_plan(
    spec: MigrationSpec,
    member: ClusterFacts,
    target: ClusterFacts,
    old_host: ClusterFacts | None,
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
    if old_host is not None:
        obj = old_host.cluster_object(member.name)
        if obj is not None:
            cluster_labels = dict(obj.labels)
            identity[f"cluster object {member.name} on {old_name}"] = obj.uid_claimed or ""
        for src in moving:
            tmpl = old_host.template(src)
            if tmpl is not None:
                old_templates[src] = {"manager": tmpl.manager}
    steps = _steps(
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
    )


def _steps(
    spec: MigrationSpec,
    member: ClusterFacts,
    target: ClusterFacts,
    old_host: str | None,
    moving: dict[str, str],
    keep: tuple[str, ...],
    delete: tuple[str, ...],
    create: tuple[str, ...],
    extend: tuple[str, ...],
    cluster_labels: dict[str, str],
    old_templates: dict[str, dict[str, Any]],
) -> list[Step]:
    m, t = member.name, target.name
    steps: list[Step] = []
    if keep:
        steps.append(
            Step(
                "unbind_namespaces",
                m,
                f"Unbind {_names(keep)} from their workspace on {m}",
                {"namespaces": list(keep)},
            )
        )
    if moving and old_host is not None:
        steps.append(
            Step(
                "remove_placement",
                old_host,
                f"Remove {m} from the placement of {_names(tuple(moving))} on {old_host}",
                {"workspaces": sorted(moving), "member": m},
            )
        )
    if moving:
        gone = f" (and with it {_names(delete)})" if delete else ""
        steps.append(
            Step(
                "delete_workspaces",
                m,
                f"Delete workspace {_names(tuple(moving))} on {m}{gone}",
                {"workspaces": sorted(moving), "discard": list(delete)},
            )
        )
    if old_host is not None:
        steps.append(
            Step(
                "unbind_cluster",
                old_host,
                f"Unbind {m} from {old_host}",
                {"member": m, "member_uid": member.kube_system_uid},
            )
        )
    if spec.sync_jwt:
        steps.append(Step("sync_jwt", m, f"Set {m}'s jwtSecret to {t}'s", {"from_host": t}))
    steps.append(
        Step(
            "join_cluster",
            t,
            f"Join {m} to {t} under the same name",
            {"member": m, "member_uid": member.kube_system_uid, "labels": cluster_labels},
        )
    )
    for ws in create:
        sources = sorted(s for s, d in moving.items() if d == ws)
        manager = next((old_templates[s]["manager"] for s in sources if s in old_templates), None)
        steps.append(
            Step(
                "ensure_workspace",
                t,
                f"Create workspace {ws} on {t} with {m}",
                {"workspace": ws, "member": m, "manager": manager or "admin", "create": True},
            )
        )
    for ws in extend:
        steps.append(
            Step(
                "ensure_workspace",
                t,
                f"Add {m} to workspace {ws} on {t}",
                {"workspace": ws, "member": m, "manager": None, "create": False},
            )
        )
    if keep:
        bindings = {
            n: moving[ns.workspace]
            for n in keep
            if (ns := member.namespace(n)) is not None and ns.workspace in moving
        }
        steps.append(
            Step(
                "rebind_namespaces",
                m,
                f"Bind {_names(keep)} to their workspace on {t}",
                {"bindings": bindings},
            )
        )
    steps.append(
        Step(
            "verify",
            t,
            f"Verify {m} on {t}",
            {"member": m, "old_host": old_host, "keep": list(keep)},
        )
    )
    return steps


def _names(items: tuple[str, ...], limit: int = 6) -> str:
    if len(items) <= limit:
        return ", ".join(items)
    return f"{', '.join(items[:limit])} and {len(items) - limit} more"
