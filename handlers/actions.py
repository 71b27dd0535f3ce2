"""Button presses on a request's message. The button's value names the request, the version and
the plan digest the message was drawn from (`bot.authority.Shown`); it is never a permission:
who may do what is decided by the service from the signed payload's user and the database.
Approve, Retry and Roll back count only for the version and plan the presser saw; Reject, Cancel and
Abandon stop things, which is safe on any version, so they go by the request id."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, Respond

from bot.authority import Shown
from bot.context import BotContext
from bot.service import Answer
from bot.work import Lane
from handlers import render
from handlers.commands import after_ack

ACTIONS = (
    "ksmc_approve",
    "ksmc_reject",
    "ksmc_retry",
    "ksmc_abandon",
    "ksmc_cancel",
    "ksmc_rollback",
)


def register(app: App, ctx: BotContext) -> None:
    for action_id in ACTIONS:
        app.action(action_id)(_listener(ctx, action_id))


def _listener(ctx: BotContext, action_id: str) -> Any:
    def on_press(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        # every press goes to the urgent lane: it never queues behind questions or preflights
        after_ack(
            ctx, "a button press", lambda: handle_press(ctx, action_id, body, respond), Lane.URGENT
        )

    return on_press


def handle_press(ctx: BotContext, action_id: str, body: dict[str, Any], respond: Respond) -> None:
    action = (body.get("actions") or [{}])[0]
    shown = Shown.parse(str(action.get("value") or ""))
    request_id = shown.request_id
    user = str((body.get("user") or {}).get("id", ""))
    team = str((body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id", ""))
    channel = str(
        (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id", "")
    )
    if not ctx.first_time(f"act:{body.get('trigger_id', '')}:{action.get('action_ts', '')}"):
        return
    service = ctx.service
    if action_id == "ksmc_approve":
        answer = service.approve(request_id, user, team, channel, shown)
    elif action_id == "ksmc_reject":
        answer = service.reject(request_id, user, team, channel)
    elif action_id == "ksmc_cancel":
        answer = service.cancel(request_id, user, team, channel)
    elif action_id == "ksmc_abandon":
        answer = service.abandon(request_id, user, team, channel)
    elif action_id == "ksmc_rollback":
        ok, message = ctx.runner.roll_back(request_id, user, team, channel, shown)
        answer = Answer(ok, message, request_id)
    else:
        ok, message = ctx.runner.retry(request_id, user, team, channel, shown)
        answer = Answer(ok, message, request_id)
    if not answer.ok:
        refusal = render.render_refusal(answer.message)
        respond(
            text=refusal.text,
            blocks=refusal.blocks,
            response_type="ephemeral",
            replace_original=False,
        )
