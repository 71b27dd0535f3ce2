"""The answers about past and present requests: `history` (one line each) and `show` (one
request in detail, with its namespace lists in follow-up messages when they do not fit).

People appear only as mentions built from user ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot import states
from bot.snapshot import RequestSnapshot, StepView
from bot.states import RequestState, StepState
from handlers.answer import _ask, _c, _Message, _more
from handlers.blocks import MAX_HEADER_TEXT, MORE, More, Rendered, names_inline
from handlers.mrkdwn import code, code_block, escape_mrkdwn, plain
from handlers.people_and_times import duration, person, plural, slack_date, utc_text
from handlers.render_plan import STEP_ICONS
from handlers.request_labels import state_label, title_plain
from k8s.preflight import Severity

#: How many messages `show` may send through one response_url (Slack accepts 5 per command).
MAX_SHOW_MESSAGES = 4


#: Requests whose execution ended (so how long it took is known).
RAN_TO_AN_END = frozenset({RequestState.SUCCEEDED, RequestState.FAILED, RequestState.ABANDONED})


def history_line(snap: RequestSnapshot) -> str:
    emoji, word = state_label(snap)
    return (
        f"{emoji} {code(snap.id, limit=32)} *{escape_mrkdwn(word, limit=60)}* · "
        f"{_c(snap.member)} → {_c(snap.target_host)} · by "
        f"{person(snap.requester_id, snap.requester_name)} · {slack_date(snap.created_at)}"
    )


def render_history(snaps: Sequence[RequestSnapshot], limit: int) -> Rendered:
    m = _Message("history")
    m.header(f"📜 The last {plural(len(snaps), 'request')}" if snaps else "📜 History")
    if not snaps:
        m.section("No requests yet in this workspace.", "empty")
        return m.done("No requests yet.")
    m.listing(
        [history_line(s) for s in snaps],
        name="rows",
        more=_more("requests", f"{_ask('history <n>')} with a smaller n shows fewer"),
        max_sections=10,
    )
    m.context([f"{_ask('show <id>')} shows one request in detail"], "foot")
    fallback = "; ".join(f"{s.id} {state_label(s)[1]}" for s in snaps[:10])
    return m.done(f"Last {len(snaps)} of at most {limit} requests: {fallback}")


def render_show(snap: RequestSnapshot, now: datetime) -> list[Rendered]:
    """One request in detail: who asked and approved, when, each step's outcome — then, in up to
    three follow-up messages, the namespace lists the request message had to cut."""
    m = _Message("show")
    emoji, word = state_label(snap)
    m.header(plain(f"{emoji} {title_plain(snap)} · {word}", MAX_HEADER_TEXT))
    approvals = ", ".join(
        f"{person(a.user_id, a.name)} {slack_date(a.at)}" for a in snap.approvals[:10]
    )
    timings = [
        f"*Requested by:* {person(snap.requester_id, snap.requester_name)} "
        f"{slack_date(snap.created_at)}",
        f"*Command:* {code('/ksmc ' + snap.command_text, limit=400)}",
        f"*Approved by:* {approvals or '—'} ({len(snap.approvals):,} of "
        f"{snap.required_approvals:,} needed)",
        f"*State:* {escape_mrkdwn(word, limit=80)} since {slack_date(snap.updated_at)}",
    ]
    if snap.run_at is not None:
        timings.append(f"*Runs at:* {slack_date(snap.run_at)}")
    if snap.state in states.AWAITING:
        timings.append(f"*Expires:* {slack_date(snap.expires_at)}")
    started = [s.started_at for s in snap.steps if s.started_at]
    finished = [s.finished_at for s in snap.steps if s.finished_at]
    if started:
        took = (
            f", took {duration((max(finished) - min(started)).total_seconds())}"
            if (finished and snap.state in RAN_TO_AN_END)
            else ""
        )
        timings.append(f"*Execution:* started {slack_date(min(started))}{took}")
    m.section("\n".join(timings), "who")
    if snap.report is not None:
        r = snap.report
        counts = " · ".join(
            f"{len(r.by_severity(s)):,} {label}"
            for s, label in (
                (Severity.BLOCKER, "blockers"),
                (Severity.WARNING, "warnings"),
                (Severity.INFO, "info"),
                (Severity.OK, "passed"),
            )
        )
        lines = [
            f"{'🚫' if c.severity is Severity.BLOCKER else '⚠️'} "
            f"{escape_mrkdwn(c.message, limit=300)}"
            for c in r.results
            if c.severity in (Severity.BLOCKER, Severity.WARNING)
        ]
        m.listing(
            lines,
            name="checks",
            head=f"*Preflight:* {counts}",
            max_sections=2,
            share=0.3,
            more=MORE,
        )
    if snap.steps:
        m.listing(
            [_step_line(s, len(snap.steps)) for s in snap.steps],
            name="steps",
            head=f"*Steps ({len(snap.steps):,})*",
            max_sections=3,
            share=0.6,
            more=More("… and {n} more step{s}"),
        )
    if snap.error:
        m.section(f"*Error:*\n{code_block(snap.error, limit=1200)}", "error")
    follow: list[Rendered] = []
    plan = snap.plan
    if plan is not None:
        m.section(
            f"*Plan* {code(plan.digest(), limit=40)}: keeps {plural(len(plan.keep), 'namespace')}, "
            f"*deletes {plural(len(plan.delete), 'namespace')}*, leaves "
            f"{plural(len(plan.untouched), 'namespace')} untouched",
            "plan",
        )
        follow = _plan_lists(snap, plan.delete, plan.keep, plan.untouched)
    m.context([f"Request {code(snap.id, limit=32)} · version {snap.version} · {utc_text(now)}"])
    first = m.done(f"{emoji} {escape_mrkdwn(title_plain(snap))} — {word}")
    return [first, *follow]


def _step_line(step: StepView, total: int) -> str:
    icon = STEP_ICONS.get(step.state, "•")
    took = f" · {duration(step.seconds)}" if step.seconds is not None else ""
    msg = f" — {escape_mrkdwn(step.message, limit=200)}" if step.message else ""
    failed = " *failed*" if step.state is StepState.FAILED else ""
    return (
        f"{icon} {step.index + 1}/{total} {escape_mrkdwn(step.title, limit=200)}{failed}{took}{msg}"
    )


def _plan_lists(
    snap: RequestSnapshot,
    delete: Sequence[str],
    keep: Sequence[str],
    untouched: Sequence[str],
) -> list[Rendered]:
    """The namespace lists in full (or as much as `MAX_SHOW_MESSAGES - 1` messages hold)."""
    lists = [("DELETED", delete), ("kept", keep), ("left untouched", untouched)]
    if sum(len(names) for _, names in lists) <= 40:
        items = [
            f"*{what.capitalize() if what != 'DELETED' else what}:* {names_inline(names, 1500)}"
            for what, names in lists
            if names
        ]
        if not items:
            return []
        m = _Message("show-plan")
        m.section("\n".join(items), "lists")
        return [m.done(f"Namespaces of {snap.id}")]
    out: list[Rendered] = []
    for what, names in lists:
        if not names or len(out) >= MAX_SHOW_MESSAGES - 1:
            continue
        m = _Message(f"show-{what.split()[0]}")
        m.listing(
            [code(n, limit=100) for n in names],
            name="names",
            head=f"*{plural(len(names), 'namespace')} {what}:*",
            more=MORE,
            max_sections=20,
            reserve_chars=0,
            reserve_blocks=0,
        )
        out.append(m.done(f"{len(names):,} namespaces {what} by {snap.id}"))
    return out


def render_unknown_request(request_id: str) -> Rendered:
    m = _Message("show")
    text = f"There is no request {code(request_id, limit=32)} in this workspace."
    m.section(text, "missing")
    return m.done(text)
