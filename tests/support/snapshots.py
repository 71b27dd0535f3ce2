"""Request snapshots built directly, without a database: what the renderers and the Home tab
are tested on."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.snapshot import ApprovalView, RequestSnapshot, StepView
from bot.states import RequestState, StepState
from k8s.plan import Plan, Step
from k8s.preflight import CheckResult, PreflightReport, Severity
from k8s.spec import MigrationSpec

S = RequestState
NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
RID = "r7k2m9ab"
REQUESTER = "U0REQUESTER"
APPROVER = "U0APPROVER1"


def make_plan(
    keep: tuple[str, ...] = ("ns-keep",),
    delete: tuple[str, ...] = ("ns-doomed",),
    untouched: tuple[str, ...] = ("default",),
    steps: int = 4,
) -> Plan:
    spec = MigrationSpec("member-a", "host-b", keep=keep, discard=delete)
    return Plan(
        spec=spec,
        old_host="host-a",
        member_uid="uid-1",
        moving_workspaces={"ws-a": "ws-a"},
        keep=keep,
        delete=delete,
        untouched=untouched,
        create_workspaces=("ws-a",),
        extend_workspaces=(),
        identity={"cluster member-a": "uid-1"},
        steps=tuple(Step("verify", "host-b", f"Step number {i + 1}") for i in range(steps)),
    )


def make_report(results: tuple[CheckResult, ...] = (), plan: Plan | None = None) -> PreflightReport:
    plan = plan if plan is not None else make_plan()
    default = (
        CheckResult("source-reachable", Severity.OK, "member member-a is reachable"),
        CheckResult("jwt", Severity.WARNING, "jwtSecret differs", "add sync-jwt"),
    )
    return PreflightReport(plan.spec, results or default, plan)


def make_snap(state: RequestState = S.PENDING, **changes: Any) -> RequestSnapshot:
    plan = changes.pop("plan", make_plan())
    report = changes.pop("report", make_report(plan=plan) if plan is not None else None)
    snap = RequestSnapshot(
        id=RID,
        state=state,
        version=3,
        command_text="migrate member-a to host-b keep ns-keep discard ns-doomed",
        team_id="T1",
        channel_id="C1",
        requester_id=REQUESTER,
        requester_name="rita",
        member="member-a",
        target_host="host-b",
        created_at=NOW - timedelta(minutes=10),
        updated_at=NOW - timedelta(minutes=1),
        expires_at=NOW + timedelta(hours=1),
        run_at=None,
        dry_run=False,
        message_ts="1700000000.000100",
        report=report,
        plan=plan,
        approvals=(),
        steps=(),
        error=None,
        required_approvals=2,
    )
    return replace(snap, **changes)


def steps_view(
    plan: Plan, states: list[StepState], message: str | None = None
) -> tuple[StepView, ...]:
    out = []
    for i, (step, state) in enumerate(zip(plan.steps, states, strict=True)):
        started = NOW - timedelta(minutes=5 - i) if state is not StepState.PENDING else None
        finished = (
            started + timedelta(seconds=65) if started and state is not StepState.RUNNING else None
        )
        msg = message if state is StepState.FAILED else (f"did {i + 1}" if finished else None)
        out.append(StepView(i, step.title, state, started, finished, msg))
    return tuple(out)


def huge_snapshot(state: RequestState = S.PENDING) -> RequestSnapshot:
    """A request at every size limit at once: what the renderers must still fit into Slack."""
    keep = tuple(f"ns-{i:04d}" for i in range(1, 5001))
    delete = tuple(f"doomed-{i:04d}" for i in range(1, 3001))
    untouched = tuple(f"other-{i:04d}" for i in range(1, 2001))
    plan = replace(
        make_plan(keep=keep, delete=delete, untouched=untouched, steps=60),
        create_workspaces=tuple(f"ws-{i}" for i in range(300)),
        extend_workspaces=tuple(f"old-ws-{i}" for i in range(300)),
        moving_workspaces={f"ws-{i}": f"ws-{i}" for i in range(300)},
    )
    severities = [Severity.BLOCKER, Severity.WARNING, Severity.INFO, Severity.OK]
    results = tuple(
        CheckResult(
            f"check-{i}",
            severities[i % 4],
            f"check {i} found something about namespace ns-{i:04d} " + "x" * 120,
            f"do this to fix {i} " + "y" * 100 if i % 4 < 2 else "",
        )
        for i in range(300)
    )
    report = replace(
        make_report(results, plan),
        cluster_errors={f"cluster-{i}": "connection refused " * 20 for i in range(30)},
    )
    approvals = tuple(ApprovalView(f"U0APPR{i}", f"a{i}", NOW) for i in range(30))
    return make_snap(state, plan=plan, report=report, approvals=approvals, error="e" * 10_000)
