"""The preflight and plan sections of a request's message: what an approver reads before
pressing Approve.

Each list here (blockers, warnings, info, unreadable clusters, passed checks; steps, DELETED,
kept and untouched namespaces, workspaces) is a `_Part` that renders itself into whatever
characters and blocks `handlers.render_request` gives it, and says, when cut, how much it left
out and that `/ksmc show <id>` has the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.snapshot import RequestSnapshot, StepView
from bot.states import RequestState, StepState
from handlers import render_rollback
from handlers.blocks import MORE, BlockIds, More, context, divider, names_inline, pack, section
from handlers.mrkdwn import code, escape_mrkdwn
from handlers.people_and_times import duration, plural
from k8s.consequences import KIND_WORDS, Action, Consequence
from k8s.plan import Plan
from k8s.preflight import CheckResult, PreflightReport, Severity

S = RequestState
Blocks = list[dict[str, Any]]

#: States whose message shows step progress instead of the bare step list.
EXECUTION_STATES = frozenset(
    {
        S.RUNNING,
        S.SUCCEEDED,
        S.FAILED,
        S.ABANDONED,
        S.ROLLING_BACK,
        S.ROLLED_BACK,
        S.ROLLBACK_FAILED,
    }
)
STEP_ICONS: dict[StepState, str] = {
    StepState.PENDING: "⏳",
    StepState.RUNNING: "🔄",
    StepState.DONE: "✅",
    StepState.FAILED: "❌",
}


@dataclass(frozen=True)
class _Part:
    """A list that may be cut: given the characters and blocks it may use, it renders itself."""

    name: str
    render: Callable[[int, int], Blocks]


def _show(snap: RequestSnapshot) -> str:
    return code(f"/ksmc show {snap.id}", limit=60)


# ---- preflight -------------------------------------------------------------------------------


def _checks_summary(report: PreflightReport | None, ids: BlockIds) -> Blocks:
    if report is None:
        return []
    counts = [
        plural(len(report.by_severity(Severity.BLOCKER)), "blocker"),
        plural(len(report.by_severity(Severity.WARNING)), "warning"),
        f"{len(report.by_severity(Severity.INFO)):,} info",
        f"{len(report.by_severity(Severity.OK)):,} passed",
    ]
    return [
        divider(ids("divider")),
        section(f"*Preflight checks:* {' · '.join(counts)}", ids("checks")),
    ]


def _check_line(result: CheckResult) -> str:
    line = f"• {escape_mrkdwn(result.message, limit=300)}"
    if result.remedy:
        line += f"\n      ↳ _Fix:_ {escape_mrkdwn(result.remedy, limit=300)}"
    return line


def _listing(
    ids: BlockIds, name: str, lines: Sequence[str], head: str, more: More
) -> Callable[[int, int], Blocks]:
    """A part rendered as sections of lines under a heading."""

    def render(chars: int, blocks: int) -> Blocks:
        texts = pack(lines, max_chunks=blocks, total=chars, head=head, more=more)
        return [section(t, ids(name)) for t in texts]

    return render


def _preflight_parts(snap: RequestSnapshot, ids: BlockIds) -> list[_Part]:
    report = snap.report
    if report is None:
        return []
    show = _show(snap)

    more = More("… and {n} more not shown", f"; {show} lists them all")

    parts: list[_Part] = []
    for severity, emoji, title, name in (
        (Severity.BLOCKER, "🚫", "Blockers", "blockers"),
        (Severity.WARNING, "⚠️", "Warnings", "warnings"),
        (Severity.INFO, "ℹ️", "Info", "info"),
    ):
        found = report.by_severity(severity)
        if found:
            head = f"{emoji} *{title} ({len(found):,})*"
            lines = [_check_line(r) for r in found]
            parts.append(_Part(name, _listing(ids, name, lines, head, more)))
    if report.cluster_errors:
        errors = [
            f"• {code(cluster, limit=60)}: {escape_mrkdwn(error, limit=300)}"
            for cluster, error in sorted(report.cluster_errors.items())
        ]
        head = f"📡 *Clusters that could not be read ({len(errors):,})*"
        render = _listing(ids, "cluster-errors", errors, head, more)
        parts.append(_Part("cluster-errors", render))
    passed = report.by_severity(Severity.OK)
    if passed:

        def render_passed(chars: int, _blocks: int) -> Blocks:
            head = f"✅ *{plural(len(passed), 'check')} passed:*"
            texts = pack(
                [escape_mrkdwn(r.message, limit=200) for r in passed],
                max_chunks=3,
                limit=1000,
                total=max(1, chars - len(head)),
                sep=" · ",
                more=MORE,
            )
            return [context([head, *texts], ids("passed"))]

        parts.append(_Part("passed", render_passed))
    return parts


# ---- plan and progress -----------------------------------------------------------------------


def _plan_head(snap: RequestSnapshot, ids: BlockIds) -> Blocks:
    if snap.plan is not None:
        return [divider(ids("divider"))]
    if snap.report is None:
        return []
    no_plan = (
        "*No plan:* the clusters could not be read well enough to plan the migration "
        "(see the checks above)."
    )
    return [divider(ids("divider")), section(no_plan, ids("plan"))]


def _plan_parts(snap: RequestSnapshot, now: datetime, ids: BlockIds) -> list[_Part]:
    plan = snap.plan
    if plan is None:
        return []
    member, target = code(snap.member, limit=60), code(snap.target_host, limit=60)
    source = code(plan.old_host, limit=60) if plan.old_host else "no host (unbound)"
    if snap.state in EXECUTION_STATES and snap.steps:
        lines = [_progress_line(s, now) for s in snap.steps]
    else:
        lines = [
            f"{i}. {escape_mrkdwn(step.title, limit=300)}" for i, step in enumerate(plan.steps, 1)
        ]
    parts = [
        _Part(
            "steps",
            _listing(
                ids,
                "steps",
                lines,
                f"*Plan:* move {member} from {source} to {target}",
                More("… and {n} more step{s}", f"; {_show(snap)} lists them all"),
            ),
        ),
        _Part("deleted", _deleted(snap, plan, ids)),
    ]
    if snap.rollback_steps:
        undo = render_rollback.progress(snap, ids, now, _show(snap), STEP_ICONS)
        parts.append(_Part("rollback", undo))
    if plan.consequences:
        parts.append(_Part("consequences", _consequences(snap, plan, ids)))
    if plan.keep:
        head = f"📦 *Kept* ({plural(len(plan.keep), 'namespace')}, moving to {target}): "
        parts.append(_Part("kept", _inline(ids, "kept", head, plan.keep)))
    if plan.untouched:
        head = f"⚪ *Left untouched* ({plural(len(plan.untouched), 'namespace')} on {member}): "
        parts.append(_Part("untouched", _inline(ids, "untouched", head, plan.untouched)))
    if plan.moving_workspaces or plan.create_workspaces or plan.extend_workspaces:
        parts.append(_Part("workspaces", _workspaces(plan, snap.target_host, ids)))
    return parts


def _inline(
    ids: BlockIds, name: str, head: str, names: Sequence[str]
) -> Callable[[int, int], Blocks]:
    def render(chars: int, _blocks: int) -> Blocks:
        return [section(head + names_inline(names, max(60, chars - len(head))), ids(name))]

    return render


def _progress_line(step: StepView, now: datetime) -> str:
    line = f"{STEP_ICONS[step.state]} {step.index + 1}. {escape_mrkdwn(step.title, limit=300)}"
    if step.state is StepState.DONE and step.seconds is not None:
        line += f" · {duration(step.seconds)}"
    elif step.state is StepState.RUNNING and step.started_at is not None:
        line += f" · running for {duration((now - step.started_at).total_seconds())}"
    if step.state is StepState.FAILED:
        line += " — *failed* (see below)"
    elif step.message:
        line += f" — _{escape_mrkdwn(step.message, limit=150)}_"
    return line


def _deleted(snap: RequestSnapshot, plan: Plan, ids: BlockIds) -> Callable[[int, int], Blocks]:
    def render(chars: int, blocks: int) -> Blocks:
        elsewhere = [
            c
            for c in plan.consequences
            if c.kind in ("Namespace", "MultiClusterNamespace")
            and c.action is Action.DELETE
            and not (c.cluster == snap.member and c.name in plan.delete)
        ]
        if not plan.delete and not elsewhere:
            return [section("✅ *No namespaces are deleted.*", ids("deleted"))]
        if not plan.delete:
            return [
                section(
                    f"🚨 *Namespaces would be DELETED by controllers:* {len(elsewhere):,} "
                    "(listed by cluster below)",
                    ids("deleted"),
                )
            ]
        head = (
            f"🚨 *DELETED: {plural(len(plan.delete), 'namespace')}, with everything in them* "
            f"(their workspace is deleted on {code(snap.member, limit=60)}):"
        )
        texts = pack(
            [code(name, limit=253) for name in plan.delete],
            max_chunks=blocks,
            total=chars,
            sep=", ",
            head=head,
            more=More(
                "*… and {n} more DELETED namespaces not shown here*",
                f" — {_show(snap)} lists them all",
            ),
        )
        return [section(t, ids("deleted")) for t in texts]

    return render


CONSEQUENCE_ICONS: dict[Action, str] = {
    Action.DELETE: "🗑",
    Action.UNINSTALL: "🗑",
    Action.CREATE: "➕",
    Action.TAKE_OVER: "🔁",
    Action.CHANGE: "✏️",
    Action.LEAVE: "⚪",
}


def _consequence_line(c: Consequence) -> str:
    flag = " *— NOT requested*" if c.blocks else ""
    return (
        f"{CONSEQUENCE_ICONS[c.action]} {code(c.cluster, limit=60)}: *{c.action.value}* "
        f"{escape_mrkdwn(c.words(), limit=200)}{flag} — _{escape_mrkdwn(c.cause, limit=250)}_"
    )


def _grouped_line(items: list[Consequence]) -> str:
    """Several harmless consequences of one kind on one cluster, in one line."""
    first = items[0]
    kind = KIND_WORDS.get(first.kind, first.kind)
    names = ", ".join(escape_mrkdwn(c.name, limit=60) for c in items[:4])
    more = f" and {len(items) - 4:,} more" if len(items) > 4 else ""
    who = first.cause.split(":", 1)[0]  # "KubeFed on host-b", "pushed by host-a's KubeFed; …"
    return (
        f"{CONSEQUENCE_ICONS[first.action]} {code(first.cluster, limit=60)}: "
        f"*{first.action.value}* {len(items):,} {kind}s: {names}{more} — "
        f"_{escape_mrkdwn(who, limit=120)}_"
    )


def _consequence_lines(consequences: list[Consequence]) -> list[str]:
    """Deletions one per line, first; then changes and creations; then what is taken over or
    left unmanaged, grouped by cluster and kind so they do not bury the rest."""
    order = {
        Action.DELETE: 0,
        Action.UNINSTALL: 0,
        Action.CHANGE: 1,
        Action.CREATE: 2,
        Action.TAKE_OVER: 3,
        Action.LEAVE: 4,
    }
    ranked = sorted(consequences, key=lambda c: (order[c.action], c.cluster, c.kind, c.name))
    lines: list[str] = []
    groups: dict[tuple[str, Action, str], list[Consequence]] = {}
    for c in ranked:
        if order[c.action] <= 1:
            lines.append(_consequence_line(c))
        else:
            groups.setdefault((c.cluster, c.action, c.kind), []).append(c)
    for items in groups.values():
        lines.append(_consequence_line(items[0]) if len(items) == 1 else _grouped_line(items))
    return lines


def _consequences(snap: RequestSnapshot, plan: Plan, ids: BlockIds) -> Callable[[int, int], Blocks]:
    """Every object any controller creates or deletes because of the plan, by cluster; the
    destructive ones first, so a cut list never hides a deletion behind a creation."""
    listed = set(plan.delete)  # the DELETED section already names these, first
    shown = [
        c
        for c in plan.consequences
        if not (c.kind == "Namespace" and c.cluster == snap.member and c.name in listed)
    ]
    head = "🔭 *What the controllers will do, by cluster:*"
    return _listing(
        ids,
        "consequences",
        _consequence_lines(shown),
        head,
        More("… and {n} more", f"; {_show(snap)} lists them all"),
    )


def _workspaces(plan: Plan, target: str, ids: BlockIds) -> Callable[[int, int], Blocks]:
    def render(chars: int, _blocks: int) -> Blocks:
        each = max(80, chars // 3 - 60)
        on = code(target, limit=60)
        lines: list[str] = []
        if plan.moving_workspaces:
            pairs = [
                f"{code(src, limit=60)} → {code(dst, limit=60)}"
                for src, dst in sorted(plan.moving_workspaces.items())
            ]
            fitted = pack(pairs, max_chunks=1, limit=each, sep=", ", more=MORE)
            lines.append("🏢 *Workspaces moving* (member → target): " + "".join(fitted))
        if plan.create_workspaces:
            created = names_inline(plan.create_workspaces, each)
            lines.append(f"➕ *Created* on {on}: {created}")
        if plan.extend_workspaces:
            joined = names_inline(plan.extend_workspaces, each)
            lines.append(f"➕ *Extended* (existing on {on}, the member is added): {joined}")
        return [section("\n".join(lines), ids("workspaces"))]

    return render
