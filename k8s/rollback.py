"""Rolling back a migration that stopped part-way: undo every step that ran, newest first.

A roll back is itself a plan, run by the same executor and reported like a migration. Each
undo step is the inverse of one executed step, built only from what the approved plan recorded
(previous placements, the namespaces' workspaces, the member's Cluster labels). Nothing secret
is kept for it: the old host gets a fresh credential of its own (re-derived), exactly as the
new host got one. What cannot come back is said in the step titles: namespaces deleted on
purpose (`discard`) stay deleted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from k8s import credentials
from k8s.consequences import Action
from k8s.plan import Plan, Step

# Steps whose undo needs no step of its own: they wrote nothing, or what they removed comes
# back through another undo (a deleted member workspace returns with the old placement).
NOTHING_TO_UNDO = frozenset({"validate_from_host", "verify", "delete_workspaces"})
# `remove_pushed` (k8s/steps/undo.py) only deletes objects still labelled kubefed-managed, so a
# name that existed before under another owner is never touched


def rollback_plan(plan: Plan, ran: Iterable[int]) -> Plan:
    """The plan that undoes `plan`'s steps at the indexes in `ran` (done, or failed part-way)."""
    undo: list[Step] = []
    for index in sorted(set(ran), reverse=True):
        undo.extend(_undo(plan, plan.steps[index]))
    undo.append(_verify(plan))
    return replace(plan, steps=tuple(undo), consequences=())


def _undo(plan: Plan, step: Step) -> list[Step]:
    p = step.params
    m = plan.spec.member
    if step.kind in NOTHING_TO_UNDO:
        return []
    if step.kind == "prepare_credential":
        host = str(p["host"])
        return [Step("revoke_credential", m, f"Revoke {host}'s credential on {m}", {"host": host})]
    if step.kind == "unbind_namespaces":
        previous: dict[str, str] = dict(p.get("workspaces") or {})
        if not previous:
            return []
        return [
            Step(
                "rebind_namespaces",
                m,
                f"Bind {_names(tuple(previous))} to their workspace on {m} again",
                {"bindings": previous},
            )
        ]
    if step.kind == "remove_placement":
        return [
            Step(
                "restore_placement",
                step.cluster,
                f"Restore the placement of {_names(tuple(p['workspaces']))} on {step.cluster}",
                {"member": m, "placements": dict(p.get("previous") or {}), "expect": "present"},
            )
        ]
    if step.kind == "unbind_cluster":
        labels = dict(p.get("labels") or {})
        return [
            Step(
                "prepare_credential",
                m,
                f"Create {step.cluster}'s own credential on {m} again",
                {"host": step.cluster},
            ),
            Step(
                "join_cluster",
                step.cluster,
                f"Re-join {m} to {step.cluster} under the same name",
                {"member": m, "member_uid": p["member_uid"], "labels": labels},
            ),
        ]
    if step.kind == "sync_jwt":
        source = p.get("restore_from")
        if not source:
            return [
                Step(
                    "manual",
                    m,
                    f"{m}'s previous jwtSecret was not its old host's and is not kept: set it "
                    "back by hand if needed",
                    {},
                )
            ]
        return [
            Step("sync_jwt", m, f"Set {m}'s jwtSecret back to {source}'s", {"from_host": source})
        ]
    if step.kind == "join_cluster":
        undo = [
            Step(
                "unbind_cluster",
                step.cluster,
                f"Unbind {m} from {step.cluster} and revoke its credential",
                {
                    "member": m,
                    "member_uid": p["member_uid"],
                    "revoke": credentials.account_name(step.cluster),
                },
            )
        ]
        pushed = _pushed_by(plan, step.cluster)
        if pushed:
            # the new host's KubeFed created these on the member at the join; unbinding leaves
            # them (its unjoin has no member access), so the roll back removes them itself
            undo.append(
                Step(
                    "remove_pushed",
                    m,
                    f"Remove what {step.cluster}'s KubeFed created on {m} "
                    f"({len(pushed)} object(s))",
                    {"objects": pushed, "host": step.cluster},
                )
            )
        return undo
    if step.kind == "ensure_workspace":
        ws = str(p["workspace"])
        if p.get("create"):
            return [
                Step(
                    "delete_workspace_template",
                    step.cluster,
                    f"Delete workspace {ws} on {step.cluster} (created by this migration)",
                    {"workspace": ws, "member": m},
                )
            ]
        return [
            Step(
                "restore_placement",
                step.cluster,
                f"Take {m} out of workspace {ws} on {step.cluster} again",
                {"member": m, "placements": {ws: dict(p.get("previous") or {})}, "expect": "gone"},
            )
        ]
    if step.kind == "rebind_namespaces":
        bindings: dict[str, Any] = dict(p.get("bindings") or {})
        if not bindings:
            return []
        return [
            Step(
                "unbind_namespaces",
                m,
                f"Unbind {_names(tuple(bindings))} from the new host's workspace on {m}",
                {"namespaces": sorted(bindings)},
            )
        ]
    return [Step("manual", step.cluster, f"No automatic undo for {step.title}", {})]


def _pushed_by(plan: Plan, host: str) -> list[list[str]]:
    """[kind, name] of what the plan said the new host's KubeFed would create on the member,
    other than the workspaces the migration itself moves there (their own undo removes them)."""
    moving = set(plan.moving_workspaces.values())
    return sorted(
        [c.kind, c.name]
        for c in plan.consequences
        if c.cluster == plan.spec.member
        and c.action is Action.CREATE
        and c.cause.startswith(f"KubeFed on {host}")
        and not (c.kind == "Workspace" and c.name in moving)
    )


def _verify(plan: Plan) -> Step:
    unbind = next((s for s in plan.steps if s.kind == "unbind_namespaces"), None)
    bindings = dict(unbind.params.get("workspaces") or {}) if unbind else {}
    return Step(
        "verify_rollback",
        plan.old_host or plan.spec.member,
        f"Verify {plan.spec.member} is back as it was before the first write",
        {
            "member": plan.spec.member,
            "old_host": plan.old_host,
            "new_host": plan.spec.target_host,
            "bindings": bindings,
            "discarded": list(plan.delete),
        },
    )


def _names(items: tuple[str, ...], limit: int = 6) -> str:
    if len(items) <= limit:
        return ", ".join(items)
    return f"{', '.join(items[:limit])} and {len(items) - limit} more"
