"""What the executor checks for itself before a migration touches a cluster.

A request's `state` column is not authority: anyone who can write the database could set it to
`approved` (issue #12, finding 2). So before every start (and every resume or retry) the runner
asks `check_execution`, which rebuilds the decision from evidence a database writer cannot forge
without `KSMC_AUDIT_KEY`: approval rows *and* their keyed audit events, each naming the plan
digest and message version the approver saw, after the preflight event that produced that plan,
from enough distinct approvers who are not the requester and are still eligible.

Buttons carry the same binding (`button_value`): request id, version and plan digest, so a press
on a message drawn before the request changed is refused instead of approving something else.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import audit
from bot.db import Approval, AuditEvent, Request
from k8s.plan import Plan
from k8s.preflight import PreflightReport

#: Audit actions that record one approver's approval.
APPROVAL_ACTIONS = ("approval.added", "request.approved")


@dataclass(frozen=True)
class Shown:
    """What a pressed button was drawn from: `version` and `plan` are None on a bare id (a
    message drawn before buttons were bound), which counts as out of date."""

    request_id: str
    version: int | None
    plan: str | None

    @classmethod
    def parse(cls, value: str) -> Shown:
        parts = value[:128].split(":")
        if len(parts) == 3 and parts[1].isdigit() and len(parts[1]) < 10:
            return cls(parts[0][:64], int(parts[1]), parts[2][:64] or None)
        return cls(value[:64], None, None)

    def matches(self, version: int, plan: str | None) -> bool:
        return self.version == version and self.plan == plan


def button_value(request_id: str, version: int, plan: Plan | None) -> str:
    """The value every button of a request's message carries: id, version, plan digest."""
    return f"{request_id}:{version}:{plan.digest() if plan is not None else ''}"


def stale_message(current_version: int) -> str:
    return (
        "this button is out of date: the request changed after this message was drawn "
        f"(it is now at version {current_version}); look at the request's message again"
    )


def plan_digest(row: Request) -> str | None:
    return Plan.from_json(row.plan_json).digest() if row.plan_json else None


def check_execution(
    session: Session,
    request_id: str,
    required: int,
    eligible: Callable[[str], bool],
) -> str | None:
    """None when the evidence authorizes running this request's stored plan, else why not.

    `eligible(user_id)` says whether that person may approve now (listed or in a listed group,
    not a bot, guest or deactivated account).
    """
    row = session.get(Request, request_id)
    if row is None:
        return "no such request"
    digest = plan_digest(row)
    if digest is None:
        return "the request has no stored plan"
    events = list(
        session.execute(
            select(AuditEvent)
            .where(AuditEvent.request_id == request_id)
            .where(AuditEvent.action.in_(("preflight.passed", *APPROVAL_ACTIONS)))
            .order_by(AuditEvent.id)
        ).scalars()
    )
    forged = [e.id for e in events if not audit.authentic(e)]
    if forged:
        return f"audit event {forged[0]} for this request does not check out (forged or altered)"
    passed = [e.id for e in events if e.action == "preflight.passed" and _plan(e) == digest]
    if not passed:
        return "no preflight of this request produced the stored plan"
    approved_events = {
        e.actor_id
        for e in events
        if e.action in APPROVAL_ACTIONS and e.id > passed[-1] and _plan(e) == digest
    }
    approved_rows = set(
        session.execute(
            select(Approval.approver_id).where(Approval.request_id == request_id)
        ).scalars()
    )
    approvers = (approved_events & approved_rows) - {row.requester_id}
    valid = {a for a in approvers if eligible(a)}
    if len(valid) < required:
        return (
            f"{len(valid)} of {required} required approvals of plan {digest} are on record "
            "(approval rows with matching audit events, by eligible people other than the "
            "requester)"
        )
    return None


def _plan(event: AuditEvent) -> str | None:
    try:
        value = json.loads(event.details).get("plan")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def world_fingerprint(report: PreflightReport) -> str:
    """What a preflight says about the clusters, reduced to what decides a migration: the plan
    it would make and each check's outcome (ids and severities, not messages, which carry
    volatile detail). Equal fingerprints before and after a pause: nothing relevant changed."""
    content = {
        "plan": report.plan.digest() if report.plan is not None else None,
        "results": sorted(f"{r.id}:{r.severity}" for r in report.results),
    }
    return hashlib.sha256(audit.canonical_json(content).encode("ascii")).hexdigest()[:32]
