"""The ordered steps of a migration plan, from the decisions `build_plan` made.

Separate from `k8s/plan.py` so the plan's data and its decisions stay short to read; every
parameter a step (or its roll back, `k8s/rollback.py`) needs is recorded here.
"""

from __future__ import annotations

from typing import Any

from k8s import credentials
from k8s.facts import ClusterFacts
from k8s.spec import MigrationSpec
from k8s.step import Step


def plan_steps(
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
    old_placements: dict[str, tuple[str, ...]],
    new_placements: dict[str, tuple[str, ...]],
    revoked: str | None,
    old_facts: ClusterFacts | None,
) -> list[Step]:
    m, t = member.name, target.name
    previous_placements = {
        ws: tmpl.where.to_json()
        for ws in sorted(old_placements)
        if old_facts is not None and (tmpl := old_facts.template(ws)) is not None
    }
    target_previous = {
        ws: tmpl.where.to_json() for ws in extend if (tmpl := target.template(ws)) is not None
    }
    jwt_restore_from = (
        old_host
        if old_facts is not None
        and member.jwt_fingerprint
        and member.jwt_fingerprint == old_facts.jwt_fingerprint
        else None
    )
    steps: list[Step] = [
        Step(
            "prepare_credential",
            m,
            f"Create {t}'s own credential on {m} (service account "
            f"{credentials.NAMESPACE}/{credentials.account_name(t)})",
            {"host": t},
        ),
        Step(
            "validate_from_host",
            t,
            f"Ask {t} to validate {m} with that credential",
            {"member": m, "member_uid": member.kube_system_uid, "jwt_pending": spec.sync_jwt},
        ),
    ]
    if keep:
        steps.append(
            Step(
                "unbind_namespaces",
                m,
                f"Unbind {_names(keep)} from their workspace on {m}",
                {
                    "namespaces": list(keep),
                    # where each was bound, so a roll back can bind it there again
                    "workspaces": {
                        n: ns.workspace
                        for n in keep
                        if (ns := member.namespace(n)) is not None and ns.workspace
                    },
                },
            )
        )
    if old_placements and old_host is not None:
        steps.append(
            Step(
                "remove_placement",
                old_host,
                f"Remove {m} from the placement of {_names(tuple(old_placements))} on {old_host}",
                {
                    "workspaces": sorted(old_placements),
                    "member": m,
                    "placements": {ws: list(c) for ws, c in sorted(old_placements.items())},
                    "previous": previous_placements,
                },
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
    if spec.sync_jwt:
        steps.append(
            Step(
                "sync_jwt",
                m,
                f"Set {m}'s jwtSecret to {t}'s",
                # a roll back can only re-derive the old secret when it was the old host's
                {"from_host": t, "restore_from": jwt_restore_from},
            )
        )
    if old_host is not None:
        steps.append(
            Step(
                "validate_from_host",
                t,
                f"Ask {t} again to validate {m}, right before {old_host} lets go of it",
                {"member": m, "member_uid": member.kube_system_uid},
            )
        )
        steps.append(
            Step(
                "unbind_cluster",
                old_host,
                f"Unbind {m} from {old_host}"
                + (f" and revoke {old_host}'s credential on {m}" if revoked else ""),
                {
                    "member": m,
                    "member_uid": member.kube_system_uid,
                    "revoke": revoked,
                    "labels": cluster_labels,
                },
            )
        )
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
        source = next((old_templates[s] for s in sources if s in old_templates), {})
        steps.append(
            Step(
                "ensure_workspace",
                t,
                f"Create workspace {ws} on {t} with {m}",
                {
                    "workspace": ws,
                    "member": m,
                    "manager": source.get("manager") or "admin",
                    "create": True,
                    "clusters": [m],
                    "networkIsolation": source.get("networkIsolation"),
                    "labels": source.get("labels") or {},
                },
            )
        )
    for ws in extend:
        steps.append(
            Step(
                "ensure_workspace",
                t,
                f"Add {m} to workspace {ws} on {t}",
                {
                    "workspace": ws,
                    "member": m,
                    "manager": None,
                    "create": False,
                    "clusters": list(new_placements.get(ws) or [m]),
                    "previous": target_previous.get(ws) or {},
                },
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
