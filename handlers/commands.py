"""The `/ksmc` slash command: ack at once, parse, hand the work to the service, answer.

Nothing slow happens before `ack()`; preflight and cluster queries run in the background and
report through the request's channel message or the command's response_url.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, Respond

from bot.audit import Actor
from bot.context import BotContext
from handlers import render
from handlers.grammar import CancelCommand, MigrateCommand, UsageError, parse
from k8s.spec import MigrationSpec

log = logging.getLogger("ksmc.commands")


def spec_of(cmd: MigrateCommand) -> MigrationSpec:
    return MigrationSpec(
        member=cmd.member,
        target_host=cmd.target_host,
        keep=cmd.keep,
        keep_all=cmd.keep_all,
        discard=cmd.discard,
        into=cmd.into,
        sync_jwt=cmd.sync_jwt,
    )


def register(app: App, ctx: BotContext) -> None:
    @app.command("/ksmc")
    def on_ksmc(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        after_ack(ctx, "a slash command", lambda: handle_command(ctx, body, respond))


def after_ack(ctx: BotContext, what: str, work: Callable[[], None]) -> None:
    """Run a listener's work after `ack()` on the bot's pool, not on Bolt's few listener threads:
    Bolt acks a request only once a listener thread is free to run its listener, so work that
    waits on the database or Slack there would delay (and past 3 s, lose) other requests' acks.
    """

    def run() -> None:
        try:
            work()
        except Exception:
            log.exception("handling %s failed", what)

    ctx.background(run)


def handle_command(ctx: BotContext, body: dict[str, Any], respond: Respond) -> None:
    text = str(body.get("text") or "")
    user = Actor(str(body.get("user_id", "")), str(body.get("user_name") or body.get("user_id")))
    team, channel = str(body.get("team_id", "")), str(body.get("channel_id", ""))
    if not ctx.first_time(f"cmd:{body.get('trigger_id', '')}"):
        log.info("dropped a replayed slash command")
        return
    try:
        cmd = parse(text, known_clusters=ctx.known_clusters())
    except UsageError as e:
        ctx.service.audit(
            "command.usage_error", user, team, channel, command=text[:500], error=e.message
        )
        shown = render.render_usage_error(e.message, e.usage)
        respond(text=shown.text, blocks=shown.blocks, response_type="ephemeral")
        return
    if isinstance(cmd, MigrateCommand):
        ctx.service.audit("command.received", user, team, channel, command=text[:500])
        answer = ctx.service.submit(
            spec_of(cmd),
            text=text,
            team=team,
            channel=channel,
            user=user,
            run_at=cmd.at,
            dry_run=cmd.dry_run,
        )
        respond(text=answer.message, response_type="ephemeral")
        if answer.ok and answer.request_id:
            request_id = answer.request_id
            ctx.background(lambda: ctx.service.run_preflight(request_id))
        return
    if isinstance(cmd, CancelCommand):
        answer = ctx.service.cancel(cmd.request_id, user.id, team, channel)
        respond(text=answer.message, response_type="ephemeral")
        return
    from handlers import queries

    ctx.background(lambda: queries.answer(ctx, cmd, body, respond))
