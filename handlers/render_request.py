"""The one Slack message a request has, rendered again from its snapshot on every state change.

It is what an approver approves, so everything the migration touches is named: the preflight
findings (blockers first), the steps, and by name the namespaces kept, DELETED and left alone
(those sections are `handlers.render_plan`). Buttons appear only in states where pressing them
can do something. Slack limits each block and (undocumented, `msg_blocks_too_long`) the whole
message, so long lists share a text budget in order of importance — blockers, steps, then
DELETED namespaces before anything else — and every list that is cut says how much it left out
and that `/ksmc show <id>` has the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import ButtonElement, ConfirmObject

from bot.authority import button_value
from bot.snapshot import RequestSnapshot
from bot.states import RequestState, StepState
from handlers import render_rollback
from handlers.blocks import (
    MAX_BLOCKS,
    MAX_FALLBACK_TEXT,
    MAX_HEADER_TEXT,
    MAX_MESSAGE_TEXT,
    BlockIds,
    Rendered,
    actions,
    button,
    confirm,
    context,
    header,
    section,
    text_size,
)
from handlers.mrkdwn import code, code_block, escape_mrkdwn, plain, truncate_mrkdwn
from handlers.people_and_times import duration, person, plural, slack_date, utc_text
from handlers.render_plan import (
    EXECUTION_STATES,
    STEP_ICONS,
    _checks_summary,
    _plan_head,
    _plan_parts,
    _preflight_parts,
)
from k8s.preflight import Severity

__all__ = [
    "DEFAULT_HINT",
    "EXECUTION_STATES",
    "STEP_ICONS",
    "Failure",
    "capitalized",
    "elapsed",
    "failure_of",
    "render_request",
    "state_label",
    "title_mrkdwn",
    "title_plain",
]

S = RequestState
Blocks = list[dict[str, Any]]

_LABELS: dict[RequestState, tuple[str, str]] = {
    S.RECEIVED: ("📥", "received"),
    S.PREFLIGHTING: ("🔍", "running preflight checks"),
    S.BLOCKED: ("🚫", "blocked"),
    S.PENDING: ("🟡", "pending approval"),
    S.APPROVED: ("👍", "approved"),
    S.SCHEDULED: ("📅", "scheduled"),
    S.RUNNING: ("🔄", "running"),
    S.SUCCEEDED: ("✅", "succeeded"),
    S.FAILED: ("❌", "failed"),
    S.REJECTED: ("👎", "rejected"),
    S.CANCELLED: ("🛑", "cancelled"),
    S.EXPIRED: ("⌛", "expired"),
    S.ABANDONED: ("🏳️", "abandoned"),
    **render_rollback.LABELS,
}
_DRY_RUN = ("🧪", "dry run")
_BEFORE_APPROVAL = frozenset({S.RECEIVED, S.PREFLIGHTING, S.BLOCKED, S.PENDING})
#: What to do after a failure when the error does not carry the step's own hint.
DEFAULT_HINT = "fix the cause, then press Retry; the executor resumes at the failed step"


def state_label(snap: RequestSnapshot) -> tuple[str, str]:
    """(emoji, words) for the request's state, e.g. ("📅", "scheduled for 2026-12-01 02:00 UTC")."""
    if snap.dry_run and snap.state in _BEFORE_APPROVAL:
        return _DRY_RUN
    emoji, word = _LABELS[snap.state]
    if snap.state is S.SCHEDULED and snap.run_at is not None:
        word = f"scheduled for {utc_text(snap.run_at)}"
    return emoji, word


def title_plain(snap: RequestSnapshot) -> str:
    """`Migration r7k2m9: member-a → host-b` as plain text (headers; escape it for mrkdwn)."""
    member, host = plain(snap.member, 36), plain(snap.target_host, 36)
    return f"Migration {plain(snap.id, 16)}: {member} → {host}"


def title_mrkdwn(snap: RequestSnapshot) -> str:
    """`Migration `r7k2m9` (`member-a` → `host-b`)` for mrkdwn sentences (never inside *…*)."""
    member, host = code(snap.member, limit=60), code(snap.target_host, limit=60)
    return f"Migration {code(snap.id, limit=32)} ({member} → {host})"


def capitalized(s: str) -> str:
    return s[:1].upper() + s[1:]


@dataclass(frozen=True)
class Failure:
    """Where and why execution stopped, and what a human should do next."""

    index: int | None  # 0-based step index; None when no step failed (e.g. preflight crashed)
    total: int
    title: str
    message: str
    hint: str

    @property
    def where(self) -> str:
        if self.index is None:
            return "before any step ran"
        return f"at step {self.index + 1} of {self.total}"


def failure_of(snap: RequestSnapshot, index: int | None = None) -> Failure:
    """The failure of step `index` (default: the first failed step) with its recovery hint.

    The runner stores a failed request's error as "<message> — <hint>"; a step's own row holds
    only the message, so the hint comes from the request error when it is there.
    """
    step = next((s for s in snap.steps if s.index == index), None)
    if step is None:
        step = next((s for s in snap.steps if s.state is StepState.FAILED), None)
    message, hint = snap.error or "", ""
    if " — " in message:
        message, hint = message.rsplit(" — ", 1)
    if step is not None and step.message:
        message = step.message
    if not hint:
        hint = DEFAULT_HINT if snap.plan is not None else "run the command again to start over"
    total = len(snap.steps) or (len(snap.plan.steps) if snap.plan else 0)
    return Failure(
        step.index if step else None,
        total,
        step.title if step else "",
        message or "no error message was recorded",
        hint,
    )


def elapsed(snap: RequestSnapshot) -> float | None:
    """Seconds from the first step's start to the last step's end, when the steps say so."""
    starts = [s.started_at for s in snap.steps if s.started_at is not None]
    ends = [s.finished_at for s in snap.steps if s.finished_at is not None]
    if not starts or not ends:
        return None
    return (max(ends) - min(starts)).total_seconds()


# ---- the message -----------------------------------------------------------------------------


#: Per list: (floor, cap, most blocks) — the characters it always gets, the most it ever gets —
#: in the order the lists are served. DELETED namespaces take whatever the others leave.
_BUDGETS: dict[str, tuple[int, int, int]] = {
    "blockers": (600, 2400, 3),
    "steps": (400, 1500, 2),
    "deleted": (600, MAX_MESSAGE_TEXT, 6),
    "rollback": (400, 1500, 2),
    "consequences": (250, 2000, 3),
    "warnings": (500, 1000, 2),
    "kept": (250, 700, 1),
    "workspaces": (250, 600, 1),
    "cluster-errors": (300, 500, 1),
    "info": (250, 500, 1),
    "untouched": (200, 400, 1),
    "passed": (200, 400, 1),
}
_PREFLIGHT_SLOTS = ("blockers", "cluster-errors", "warnings", "info", "passed")
_PLAN_SLOTS = (
    "steps",
    "rollback",
    "deleted",
    "consequences",
    "kept",
    "untouched",
    "workspaces",
)


def render_request(snap: RequestSnapshot, now: datetime) -> Rendered:
    """The request's message in its current state (post it once, then `chat.update` it)."""
    ids = BlockIds(snap.id, snap.state.value, f"v{snap.version}")
    emoji, word = state_label(snap)
    top = [
        header(plain(f"{emoji} {title_plain(snap)} · {word}", MAX_HEADER_TEXT), ids("header")),
        section(_intro(snap), ids("intro")),
    ]
    checks = _checks_summary(snap.report, ids)
    plan_head = _plan_head(snap, ids)
    tail = _approvals(snap, ids) + _status(snap, now, ids)
    buttons = _buttons(snap)
    if buttons:
        tail.append(actions(buttons, ids("actions")))
    tail.append(context([_footer(snap, now)], ids("footer")))

    # The lists share what is left, most important first; each later one keeps its floor.
    parts = _preflight_parts(snap, ids) + _plan_parts(snap, now, ids)
    parts.sort(key=lambda p: list(_BUDGETS).index(p.name))
    fixed = top + checks + plan_head + tail
    chars, blocks_left = MAX_MESSAGE_TEXT - text_size(fixed), MAX_BLOCKS - len(fixed)
    made: dict[str, Blocks] = {}
    for i, part in enumerate(parts):
        floor, cap, most = _BUDGETS[part.name]
        reserved = sum(_BUDGETS[p.name][0] for p in parts[i + 1 :])
        later = len(parts) - i - 1
        out = part.render(
            max(floor, min(cap, chars - reserved)), max(1, min(most, blocks_left - later))
        )
        made[part.name] = out
        chars -= text_size(out)
        blocks_left -= len(out)

    def slots(names: Sequence[str]) -> Blocks:
        return [b for name in names for b in made.get(name, [])]

    blocks = top + checks + slots(_PREFLIGHT_SLOTS) + plan_head + slots(_PLAN_SLOTS) + tail
    return Rendered(_fallback(snap), blocks)


def _fallback(snap: RequestSnapshot) -> str:
    emoji, word = state_label(snap)
    facts: list[str] = []
    report, plan = snap.report, snap.plan
    if snap.state is S.PENDING and not snap.dry_run:
        facts.append(f"needs {plural(snap.approvals_missing, 'more approval')}")
    if report is not None and report.blocked and snap.state in _BEFORE_APPROVAL:
        facts.append(plural(len(report.by_severity(Severity.BLOCKER)), "blocker"))
    if plan is not None:
        verb = "deleted" if snap.state is S.SUCCEEDED else "deletes"
        facts.append(f"{verb} {plural(len(plan.delete), 'namespace')}")
    if snap.state is S.FAILED:
        failure = failure_of(snap)
        facts.append(f"failed {failure.where}: {escape_mrkdwn(failure.message, limit=200)}")
    requester = escape_mrkdwn(snap.requester_name or snap.requester_id, limit=80)
    text = f"{emoji} {escape_mrkdwn(title_plain(snap))} — {word}"
    text += "".join(f"; {f}" for f in facts) + f". Requested by {requester}."
    return truncate_mrkdwn(text, MAX_FALLBACK_TEXT)


def _intro(snap: RequestSnapshot) -> str:
    command = snap.command_text.strip()
    if not command.startswith("/"):
        command = f"/ksmc {command}"
    return (
        f"Requested by {person(snap.requester_id, snap.requester_name)} "
        f"{slack_date(snap.created_at)}\n{code(command, limit=400)}"
    )


# ---- approvals, status, buttons --------------------------------------------------------------


def _approvals(snap: RequestSnapshot, ids: BlockIds) -> Blocks:
    if snap.dry_run or snap.state in {S.RECEIVED, S.PREFLIGHTING, S.BLOCKED}:
        return []
    got, need = len(snap.approvals), snap.required_approvals
    who = ", ".join(f"{person(a.user_id, a.name)} ({slack_date(a.at)})" for a in snap.approvals[:5])
    if got > 5:
        who += f" and {got - 5:,} more"
    if snap.state is S.PENDING:
        text = f"👍 *{got:,} of {plural(need, 'approval')}*" + (f": {who}" if who else " yet")
    elif who:
        text = f"👍 *Approved* by {who}"
    else:
        return []
    return [section(text, ids("approvals"))]


def _status(snap: RequestSnapshot, now: datetime, ids: BlockIds) -> Blocks:
    blocks = [section(_status_line(snap, now), ids("status"))]
    blocks += render_rollback.failure_blocks(snap, ids)
    if snap.state in {S.FAILED, S.ABANDONED}:
        failure = failure_of(snap)
        # cut shorter than a block allows: the step-failure reply in the thread has it whole
        blocks.append(section(code_block(failure.message, limit=600), ids("error")))
        if snap.state is S.FAILED:
            hint = f"*What now:* {escape_mrkdwn(failure.hint, limit=500)}"
            blocks.append(section(hint, ids("hint")))
    return blocks


def _status_line(snap: RequestSnapshot, now: datetime) -> str:
    state, report = snap.state, snap.report
    really_blocked = report is not None and report.blocked
    if snap.dry_run and state in _BEFORE_APPROVAL:
        if state in {S.RECEIVED, S.PREFLIGHTING}:
            return "🔍 Dry run: running the preflight checks…"
        then = (
            "The blockers above would stop the real migration; fix them first."
            if really_blocked
            else "Run the command again without `dry-run` to request the migration."
        )
        return f"🧪 *Dry run:* nothing was changed and nothing will be. {then}"
    if state in {S.RECEIVED, S.PREFLIGHTING}:
        return "🔍 Running the preflight checks…"
    if state is S.BLOCKED:
        return "🚫 *Fix the blockers above and run the command again.*"
    if state is S.PENDING:
        if really_blocked:
            return "🚫 *Blocked by the checks above*; it cannot be approved."
        verb = "Expired" if now >= snap.expires_at else "Expires"
        runs = f" Runs {slack_date(snap.run_at)} once approved." if snap.run_at else ""
        return (
            f"⏳ Waiting for {plural(snap.approvals_missing, 'more approval')} from an approver "
            f"other than the requester. {verb} {slack_date(snap.expires_at)}.{runs}"
        )
    if state is S.APPROVED:
        return "👍 Approved; starting shortly."
    if state is S.SCHEDULED:
        when = slack_date(snap.run_at) if snap.run_at else "in the maintenance window"
        return f"📅 *Scheduled:* starts {when}. Press Cancel to call it off."
    if state is S.RUNNING:
        running = next((s for s in snap.steps if s.state is StepState.RUNNING), None)
        at = f" step {running.index + 1} of {len(snap.steps)}" if running else ""
        return f"🔄 *Running*{at}…"
    if state is S.SUCCEEDED:
        took = elapsed(snap)
        return "✅ *Succeeded*" + (f" in {duration(took)}." if took is not None else ".")
    if state is S.FAILED:
        failure = failure_of(snap)
        title = f": {escape_mrkdwn(failure.title, limit=300)}" if failure.title else ""
        return f"❌ *Failed {failure.where}*{title}"
    if state in render_rollback.ROLLBACK_STATES:
        return render_rollback.status_line(snap)
    if state is S.ABANDONED:
        return (
            f"🏳️ *Abandoned* {slack_date(snap.updated_at)} after failing "
            f"{failure_of(snap).where}. Nothing was rolled back: the clusters are as the steps "
            "above left them."
        )
    if state is S.REJECTED:
        return f"👎 *Rejected* {slack_date(snap.updated_at)}."
    if state is S.CANCELLED:  # with why, when the bot itself refused to run it
        why = f" {escape_mrkdwn(snap.error, limit=300)}" if snap.error else ""
        return f"🛑 *Cancelled* {slack_date(snap.updated_at)}.{why}"
    return (  # expired
        f"⌛ *Expired* {slack_date(snap.expires_at)} with {len(snap.approvals):,} of "
        f"{plural(snap.required_approvals, 'approval')}. Run the command again to ask anew."
    )


def _buttons(snap: RequestSnapshot) -> list[ButtonElement]:
    """The buttons that can do something now; each value binds the request id, version and
    plan digest this message shows (`bot.authority.button_value`)."""
    state, rid = snap.state, snap.id
    value = button_value(snap.id, snap.version, snap.plan)
    member, target = code(snap.member, limit=60), code(snap.target_host, limit=60)
    if state is S.PENDING and not snap.dry_run and snap.report and not snap.report.blocked:
        return [
            button(
                "Approve",
                "ksmc_approve",
                value,
                style="primary",
                confirm_with=_approve_confirm(snap),
            ),
            button("Reject", "ksmc_reject", value, style="danger"),
        ]
    if state in {S.APPROVED, S.SCHEDULED}:
        when = f", scheduled for {utc_text(snap.run_at)}," if snap.run_at else ""
        ask = confirm(
            f"Cancel migration {plain(rid, 32)}?",
            f"The migration of {member} to {target}{when} will not run.",
            "Cancel it",
            "Keep it",
        )
        return [button("Cancel", "ksmc_cancel", value, confirm_with=ask)]
    if state is S.FAILED:
        ask = confirm(
            f"Abandon migration {plain(rid, 32)}?",
            f"{member} stays as it is now (failed {failure_of(snap).where}); nothing is rolled "
            "back and the request cannot be retried.",
            "Abandon",
            style="danger",
        )
        retry = [button("Retry", "ksmc_retry", value, style="primary")] if snap.plan else []
        back = render_rollback.buttons(snap, value)
        abandon = button("Abandon", "ksmc_abandon", value, style="danger", confirm_with=ask)
        return [*retry, *back, abandon]
    if state is S.ROLLBACK_FAILED:
        return render_rollback.after_failure_buttons(snap, value)
    return []


def _approve_confirm(snap: RequestSnapshot) -> ConfirmObject:
    deleted = len(snap.plan.delete) if snap.plan else 0
    what = (
        f"*{plural(deleted, 'namespace')} will be DELETED* with everything in them."
        if deleted
        else "No namespace is deleted."
    )
    member, target = code(snap.member, limit=60), code(snap.target_host, limit=60)
    return confirm(
        "Approve this migration?", f"Move {member} to {target}. {what}", "Approve", style="primary"
    )


def _footer(snap: RequestSnapshot, now: datetime) -> str:
    digest = f" · plan `{snap.plan.digest()}`" if snap.plan is not None else ""
    return (
        f"Request {code(snap.id, limit=32)} · version {snap.version}{digest} · "
        f"updated {slack_date(now)}"
    )
