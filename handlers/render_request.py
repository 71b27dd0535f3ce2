"""The one Slack message a request has, rendered again from its snapshot on every state change.

It is what an approver approves, so everything the migration touches is named: the preflight
findings (blockers first), the steps, and by name the namespaces kept, DELETED and left alone
(those sections are `handlers.render_plan`). Buttons appear only in states where pressing them
can do something. Slack limits each block and (undocumented, `msg_blocks_too_long`) the whole
message, so long lists share a text budget in order of importance — blockers, steps, then
DELETED namespaces before anything else — and every list that is cut says how much it left out
and that `/ksmc show <id>` has the rest. Where the request stands (approvals, status, buttons)
is `handlers.render_request_status`; how any message names a request is `handlers.request_labels`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.snapshot import RequestSnapshot
from bot.states import RequestState
from handlers.blocks import (
    MAX_BLOCKS,
    MAX_FALLBACK_TEXT,
    MAX_HEADER_TEXT,
    MAX_MESSAGE_TEXT,
    BlockIds,
    Rendered,
    actions,
    context,
    header,
    section,
    text_size,
)
from handlers.mrkdwn import code, escape_mrkdwn, plain, truncate_mrkdwn
from handlers.people_and_times import person, plural, slack_date
from handlers.render_plan import _checks_summary, _plan_head, _plan_parts, _preflight_parts
from handlers.render_request_status import approvals, buttons, footer, status
from handlers.request_labels import BEFORE_APPROVAL, failure_of, state_label, title_plain
from k8s.preflight import Severity

S = RequestState
Blocks = list[dict[str, Any]]


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
    tail = approvals(snap, ids) + status(snap, now, ids)
    shown = buttons(snap)
    if shown:
        tail.append(actions(shown, ids("actions")))
    tail.append(context([footer(snap, now)], ids("footer")))

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
    if report is not None and report.blocked and snap.state in BEFORE_APPROVAL:
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
