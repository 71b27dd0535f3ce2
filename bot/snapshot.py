"""A request as the Slack layer sees it: plain frozen values read from the database.

Renderers take a snapshot, never a SQLAlchemy row, so Slack is always a view of what is stored
and messages can be re-rendered after a restart from the rows alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from bot.db import Request, StepProgress
from bot.states import ROLLBACK_BASE, RequestState, StepState
from k8s.plan import Plan
from k8s.preflight import PreflightReport
from k8s.rollback import rollback_plan


@dataclass(frozen=True)
class ApprovalView:
    user_id: str
    name: str
    at: datetime


@dataclass(frozen=True)
class StepView:
    index: int
    title: str
    state: StepState
    started_at: datetime | None
    finished_at: datetime | None
    message: str | None

    @property
    def seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


@dataclass(frozen=True)
class RequestSnapshot:
    id: str
    state: RequestState
    version: int
    command_text: str
    team_id: str
    channel_id: str
    requester_id: str
    requester_name: str
    member: str
    target_host: str
    created_at: datetime
    updated_at: datetime
    expires_at: datetime
    run_at: datetime | None
    dry_run: bool
    message_ts: str | None
    report: PreflightReport | None
    plan: Plan | None
    approvals: tuple[ApprovalView, ...]
    steps: tuple[StepView, ...]
    error: str | None
    required_approvals: int = 1
    rollback: Plan | None = None  # the undo plan, once a roll back was started
    rollback_steps: tuple[StepView, ...] = ()

    @property
    def approvals_missing(self) -> int:
        return max(0, self.required_approvals - len(self.approvals))

    @classmethod
    def of(cls, row: Request, required_approvals: int = 1) -> RequestSnapshot:
        report = PreflightReport.from_json(row.preflight_json) if row.preflight_json else None
        plan = Plan.from_json(row.plan_json) if row.plan_json else None
        titles = {i: s.title for i, s in enumerate(plan.steps)} if plan else {}
        recorded = {s.index: s for s in row.steps if s.index < ROLLBACK_BASE}
        steps = _views(titles, recorded)
        rollback = None
        rollback_steps: tuple[StepView, ...] = ()
        if plan is not None and row.state in ROLLBACK_STATES:
            rollback = rollback_plan(plan, ran_indexes(recorded.values()))
            undo_rows = {s.index - ROLLBACK_BASE: s for s in row.steps if s.index >= ROLLBACK_BASE}
            rollback_steps = _views({i: s.title for i, s in enumerate(rollback.steps)}, undo_rows)
        return cls(
            id=row.id,
            state=row.state,
            version=row.version,
            command_text=row.command_text,
            team_id=row.team_id,
            channel_id=row.channel_id,
            requester_id=row.requester_id,
            requester_name=row.requester_name,
            member=row.member,
            target_host=row.target_host,
            created_at=row.created_at,
            updated_at=row.updated_at,
            expires_at=row.expires_at,
            run_at=row.run_at,
            dry_run=row.dry_run,
            message_ts=row.message_ts,
            report=report,
            plan=plan,
            approvals=tuple(
                ApprovalView(a.approver_id, a.approver_name, a.created_at) for a in row.approvals
            ),
            steps=steps,
            error=row.error,
            required_approvals=required_approvals,
            rollback=rollback,
            rollback_steps=rollback_steps,
        )


ROLLBACK_STATES = frozenset(
    {RequestState.ROLLING_BACK, RequestState.ROLLED_BACK, RequestState.ROLLBACK_FAILED}
)


def ran_indexes(rows: Iterable[StepProgress]) -> list[int]:
    """The migration steps a roll back must undo: every one that started (done, failed, or
    interrupted while running) — a step that failed half-way may have written."""
    return sorted(
        r.index for r in rows if r.index < ROLLBACK_BASE and r.state is not StepState.PENDING
    )


def _views(titles: dict[int, str], recorded: dict[int, StepProgress]) -> tuple[StepView, ...]:
    return tuple(
        StepView(
            index=i,
            title=titles.get(i, recorded[i].name if i in recorded else f"step {i + 1}"),
            state=recorded[i].state if i in recorded else StepState.PENDING,
            started_at=recorded[i].started_at if i in recorded else None,
            finished_at=recorded[i].finished_at if i in recorded else None,
            message=recorded[i].message if i in recorded else None,
        )
        for i in sorted(set(titles) | set(recorded))
    )
