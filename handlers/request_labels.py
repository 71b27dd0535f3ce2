"""How every message about a request names it: its state as emoji and words, its title, where
and why it failed and what to do next, how long it ran."""

from __future__ import annotations

from dataclasses import dataclass

from bot.snapshot import RequestSnapshot
from bot.states import RequestState, StepState
from handlers import render_rollback
from handlers.mrkdwn import code, plain
from handlers.people_and_times import utc_text

S = RequestState

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
BEFORE_APPROVAL = frozenset({S.RECEIVED, S.PREFLIGHTING, S.BLOCKED, S.PENDING})
#: What to do after a failure when the error does not carry the step's own hint.
DEFAULT_HINT = "fix the cause, then press Retry; the executor resumes at the failed step"


def state_label(snap: RequestSnapshot) -> tuple[str, str]:
    """(emoji, words) for the request's state, e.g. ("📅", "scheduled for 2026-12-01 02:00 UTC")."""
    if snap.dry_run and snap.state in BEFORE_APPROVAL:
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
