"""Every message ksmc-bot shows in Slack, as pure functions from values to `Rendered`.

Listeners and the notifier call these and send the result; nothing here talks to Slack or the
database, so tests check structure and limits directly. The request message itself lives in
`handlers.render_request`; the thread replies and short ephemeral answers are here. All text
from users and clusters is escaped (`escape_mrkdwn`); mentions are built only from user ids.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.snapshot import RequestSnapshot
from bot.states import RequestState
from handlers.blocks import MAX_FALLBACK_TEXT, BlockRef, Rendered, context, parse_block_id, section
from handlers.mrkdwn import code, code_block, escape_mrkdwn, truncate_mrkdwn
from handlers.people_and_times import (
    duration,
    mention,
    mention_entry,
    person,
    plural,
    slack_date,
    utc_text,
)
from handlers.render_request import render_request
from handlers.request_labels import (
    Failure,
    capitalized,
    elapsed,
    failure_of,
    state_label,
    title_mrkdwn,
)

__all__ = [
    "BlockRef",
    "Rendered",
    "escape_mrkdwn",
    "parse_block_id",
    "render_ack",
    "render_final",
    "render_refusal",
    "render_reminder",
    "render_request",
    "render_slow_down",
    "render_step_failure",
    "render_usage_error",
]


def _rendered(text: str, blocks: list[dict[str, Any]]) -> Rendered:
    return Rendered(truncate_mrkdwn(text, MAX_FALLBACK_TEXT), blocks)


def _people(snap: RequestSnapshot) -> str:
    """Mentions of the requester and everyone who approved, each once."""
    seen: list[str] = []
    for user_id in (snap.requester_id, *(a.user_id for a in snap.approvals)):
        m = mention(user_id)
        if m is not None and m not in seen:
            seen.append(m)
    return " ".join(seen)


def _with_people(line: str, snap: RequestSnapshot) -> str:
    people = _people(snap)
    return f"{line}\n{people}" if people else line


# ---- ephemeral answers -----------------------------------------------------------------------


def render_ack(text: str) -> Rendered:
    """A short confirmation (e.g. "Request r7k2m9 received"); `text` is shown as plain text."""
    shown = escape_mrkdwn(text, multiline=True, limit=2000) if text.strip() else "✅ Done."
    return _rendered(shown, [section(shown, "ksmc:ack")])


def render_usage_error(message: str, usage: str) -> Rendered:
    """A command that did not parse: what is wrong, then the right form of the command."""
    problem = escape_mrkdwn(
        message or "That command was not understood.", multiline=True, limit=1000
    )
    blocks = [
        section(f"⚠️ {problem}", "ksmc:usage-error"),
        section(f"*Usage:*\n{code_block(usage, limit=2500)}", "ksmc:usage"),
        context([f"{code('/ksmc help')} lists every command."], "ksmc:usage-help"),
    ]
    return _rendered(f"⚠️ {problem} Usage: {escape_mrkdwn(usage, limit=500)}", blocks)


def render_refusal(reason: str) -> Rendered:
    """Why a command or button press did nothing (not allowed, too late, already done…)."""
    reason = reason if reason.strip() else "that was not allowed"
    shown = f"⛔ {capitalized(escape_mrkdwn(reason, multiline=True, limit=1500))}"
    return _rendered(shown, [section(shown, "ksmc:refusal")])


def render_slow_down(kind: str, wait_seconds: float, now: datetime | None = None) -> Rendered:
    """A user over their rate limit (`bot.ratelimit`): what was refused, and when to try again.
    Nothing was read or stored, which the answer says so that nobody waits for a result."""
    what = "migration requests" if kind == "request" else "questions"
    seconds = max(1, math.ceil(wait_seconds))
    at = (now or datetime.now(UTC)) + timedelta(seconds=seconds)
    shown = (
        f"🐢 Slow down: you have sent too many {what} in a short time, so this one was not run. "
        f"Try again in {seconds} s (after {at.strftime('%H:%M:%S')} UTC)."
    )
    return _rendered(shown, [section(shown, "ksmc:slow-down")])


# ---- thread replies under the request message ------------------------------------------------


def render_step_failure(snap: RequestSnapshot, step_index: int) -> Rendered:
    """A step failed: what, why, and what to do, mentioning the requester and the approvers."""
    return _failed(snap, failure_of(snap, step_index), "ksmc:step-failed")


def render_final(snap: RequestSnapshot) -> Rendered:
    """The outcome, once the request can go no further (or has failed and waits for a human)."""
    if snap.state is RequestState.FAILED:
        return _failed(snap, failure_of(snap), "ksmc:final")
    people = _people(snap)
    if snap.state is RequestState.SUCCEEDED:
        took = elapsed(snap)
        member, host = code(snap.member, limit=60), code(snap.target_host, limit=60)
        line = f"✅ {title_mrkdwn(snap)} *succeeded*"
        line += f" in {duration(took)}" if took is not None else ""
        line += f": {member} is now a member of {host}."
        if snap.plan is not None:
            line += (
                f" Kept {plural(len(snap.plan.keep), 'namespace')}, "
                f"deleted {plural(len(snap.plan.delete), 'namespace')}."
            )
        return _rendered(f"{line} {people}", [section(_with_people(line, snap), "ksmc:final")])
    emoji, word = state_label(snap)
    line = f"{emoji} {title_mrkdwn(snap)} *ended: {word}* {slack_date(snap.updated_at)}."
    text = f"{emoji} {title_mrkdwn(snap)} ended: {word} {utc_text(snap.updated_at)}. {people}"
    return _rendered(text, [section(_with_people(line, snap), "ksmc:final")])


def render_reminder(snap: RequestSnapshot, approver_mentions: Sequence[str]) -> Rendered:
    """Halfway through the approval window: ask the approvers (user or group ids) to decide."""
    who = " ".join(_mentions(approver_mentions)) or "Approvers"
    deleted = len(snap.plan.delete) if snap.plan is not None else 0
    danger = f" It *DELETES {plural(deleted, 'namespace')}*." if deleted else ""
    line = (
        f"⏰ {who}: {title_mrkdwn(snap)}, requested by "
        f"{person(snap.requester_id, snap.requester_name)}, still needs "
        f"{plural(snap.approvals_missing, 'more approval')}.{danger}"
    )
    blocks = [
        section(
            f"{line}\nIt expires {slack_date(snap.expires_at)}. Review the request message above "
            "and press *Approve* or *Reject*.",
            "ksmc:reminder",
        )
    ]
    return _rendered(f"{line} It expires {utc_text(snap.expires_at)}.", blocks)


def _failed(snap: RequestSnapshot, failure: Failure, block_id: str) -> Rendered:
    what = f": {escape_mrkdwn(failure.title, limit=300)}" if failure.title else ""
    line = f"❌ {title_mrkdwn(snap)} *failed {failure.where}*{what}"
    blocks = [
        section(_with_people(line, snap), block_id),
        section(code_block(failure.message, limit=1500), f"{block_id}-error"),
        section(
            f"*What now:* {escape_mrkdwn(failure.hint, limit=1000)}\n"
            "On the request message, *Retry* resumes at the failed step and *Abandon* gives up "
            "for good (nothing is rolled back).",
            f"{block_id}-hint",
        ),
    ]
    text = f"{line}: {escape_mrkdwn(failure.message, limit=300)} {_people(snap)}"
    return _rendered(text, blocks)


def _mentions(entries: Iterable[str]) -> list[str]:
    out: list[str] = []
    for entry in entries:
        m = mention_entry(entry)
        if m is not None and m not in out:
            out.append(m)
    return out
