"""How a roll back shows in the request's message: its own numbered undo steps with progress,
a status line, and the Roll back button beside Retry and Abandon on a failed migration.

Kept apart from `handlers.render_request` so that module stays about the migration itself."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import ButtonElement

from bot.snapshot import RequestSnapshot, StepView
from bot.states import RequestState, StepState
from handlers.blocks import BlockIds, More, button, confirm, pack, section
from handlers.mrkdwn import code, code_block, escape_mrkdwn, plain
from handlers.people_and_times import plural, slack_date

S = RequestState
Blocks = list[dict[str, Any]]

LABELS: dict[RequestState, tuple[str, str]] = {
    S.ROLLING_BACK: ("⏪", "rolling back"),
    S.ROLLED_BACK: ("↩️", "rolled back"),
    S.ROLLBACK_FAILED: ("❌", "roll back failed"),
}
ROLLBACK_STATES = frozenset(LABELS)


def failed_undo(snap: RequestSnapshot) -> StepView | None:
    return next((s for s in snap.rollback_steps if s.state is StepState.FAILED), None)


def status_line(snap: RequestSnapshot) -> str:
    total = len(snap.rollback_steps)
    if snap.state is S.ROLLING_BACK:
        running = next((s for s in snap.rollback_steps if s.state is StepState.RUNNING), None)
        at = f" undo step {running.index + 1} of {total}" if running else ""
        return f"⏪ *Rolling back*{at}: undoing what ran, newest first…"
    if snap.state is S.ROLLED_BACK:
        gone = len(snap.plan.delete) if snap.plan else 0
        lost = (
            f" The {plural(gone, 'namespace')} deleted on purpose (`discard`) stay deleted."
            if gone
            else ""
        )
        return (
            f"↩️ *Rolled back* {slack_date(snap.updated_at)}: {code(snap.member, limit=60)} is "
            f"back as it was before the first change (checked).{lost}"
        )
    step = failed_undo(snap)
    where = (
        f" at undo step {step.index + 1} of {total}: {escape_mrkdwn(step.title)}" if step else ""
    )
    return f"❌ *Roll back failed*{where}"


def error_text(snap: RequestSnapshot) -> str:
    step = failed_undo(snap)
    return (step.message if step and step.message else snap.error) or "no error was recorded"


def failure_blocks(snap: RequestSnapshot, ids: BlockIds) -> Blocks:
    """Under the status of a failed roll back: the error, and what to do."""
    if snap.state is not S.ROLLBACK_FAILED:
        return []
    hint = (
        "*What now:* fix the cause, then press *Resume roll back* (it continues at the failed "
        "undo step), or Abandon"
    )
    return [
        section(code_block(error_text(snap), limit=800), ids("error")),
        section(hint, ids("hint")),
    ]


def after_failure_buttons(snap: RequestSnapshot, value: str) -> list[ButtonElement]:
    ask = confirm(
        f"Abandon migration {plain(snap.id, 32)}?",
        f"{code(snap.member, limit=60)} stays as the failed roll back left it; nothing more is "
        "undone.",
        "Abandon",
        style="danger",
    )
    return [
        *buttons(snap, value),
        button("Abandon", "ksmc_abandon", value, style="danger", confirm_with=ask),
    ]


def buttons(snap: RequestSnapshot, value: str) -> list[ButtonElement]:
    """Roll back on a failed migration or a failed roll back (pressing again resumes it)."""
    if snap.plan is None or snap.state not in (S.FAILED, S.ROLLBACK_FAILED):
        return []
    ran = sum(1 for s in snap.steps if s.state is not StepState.PENDING)
    again = snap.state is S.ROLLBACK_FAILED
    ask = confirm(
        f"{'Resume the roll back' if again else 'Roll back'} {plain(snap.id, 32)}?",
        f"Undo the {plural(ran, 'step')} that ran, newest first, until "
        f"{code(snap.member, limit=60)} is as it was before the first change. Namespaces "
        "deleted on purpose cannot come back.",
        "Roll back",
        style="danger",
    )
    label = "Resume roll back" if again else "Roll back"
    return [button(label, "ksmc_rollback", value, confirm_with=ask)]


def progress(
    snap: RequestSnapshot,
    ids: BlockIds,
    now: datetime,
    show: str,
    icons: Mapping[StepState, str],
) -> Callable[[int, int], Blocks]:
    """The undo steps with their progress, as a part of the plan section."""

    def line(step: StepView) -> str:
        text = f"{icons[step.state]} {step.index + 1}. {escape_mrkdwn(step.title, limit=300)}"
        if step.state is StepState.RUNNING and step.started_at is not None:
            text += f" · running for {int((now - step.started_at).total_seconds())}s"
        elif step.state is StepState.FAILED:
            text += " — *failed* (see below)"
        elif step.message:
            text += f" — _{escape_mrkdwn(step.message, limit=150)}_"
        return text

    def render(chars: int, blocks: int) -> Blocks:
        head = "⏪ *Roll back* (undo steps, newest change first):"
        texts = pack(
            [line(s) for s in snap.rollback_steps],
            max_chunks=blocks,
            total=chars,
            head=head,
            more=More("… and {n} more undo step{s}", f"; {show} lists them all"),
        )
        return [section(t, ids("rollback")) for t in texts]

    return render
