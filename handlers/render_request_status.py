"""The part of a request's message that says where it stands: who approved, the status line
(what happens next, and when), the error and what to do after a failure, the buttons that can
act now, and the footer with the version and plan digest the buttons are bound to."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import ButtonElement, ConfirmObject

from bot.authority import button_value
from bot.snapshot import RequestSnapshot
from bot.states import RequestState, StepState
from handlers import render_rollback
from handlers.blocks import BlockIds, button, confirm, section
from handlers.mrkdwn import code, code_block, escape_mrkdwn, plain
from handlers.people_and_times import duration, person, plural, slack_date, utc_text
from handlers.request_labels import BEFORE_APPROVAL, elapsed, failure_of

S = RequestState
Blocks = list[dict[str, Any]]


def approvals(snap: RequestSnapshot, ids: BlockIds) -> Blocks:
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


def status(snap: RequestSnapshot, now: datetime, ids: BlockIds) -> Blocks:
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
    if snap.dry_run and state in BEFORE_APPROVAL:
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


def buttons(snap: RequestSnapshot) -> list[ButtonElement]:
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


def footer(snap: RequestSnapshot, now: datetime) -> str:
    digest = f" · plan `{snap.plan.digest()}`" if snap.plan is not None else ""
    return (
        f"Request {code(snap.id, limit=32)} · version {snap.version}{digest} · "
        f"updated {slack_date(now)}"
    )
