"""The `/ksmc` slash command: ack at once, parse, hand the work to the service, answer.

Nothing slow happens before `ack()`; preflight and cluster queries run in the background and
report through the request's channel message or the command's response_url. Each kind of work
has its own lane (`bot.work`): `/ksmc cancel` goes with the button presses, questions and
preflights to lanes of their own, and a user over the rate limit for questions or requests is
told when to try again before anything is read or written (issue #12, finding 5).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, Respond

from bot.audit import Actor
from bot.context import BotContext
from bot.work import Lane
from handlers import render
from handlers.command_words import UsageError
from handlers.grammar import CancelCommand, Command, HelpCommand, MigrateCommand, parse
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
        lane = lane_of(str(body.get("text") or ""))
        after_ack(ctx, "a slash command", lambda: handle_command(ctx, body, respond), lane)


def lane_of(text: str) -> Lane:
    """`/ksmc cancel` stops a migration, so it goes with the button presses; every other
    command is first looked at on the intake lane (which hands slow work on)."""
    words = text.split()
    return Lane.URGENT if words and words[0].lower() == "cancel" else Lane.INTAKE


def after_ack(
    ctx: BotContext, what: str, work: Callable[[], None], lane: Lane = Lane.INTAKE
) -> None:
    """Run a listener's work after `ack()` on the bot's lanes, not on Bolt's few listener threads:
    Bolt acks a request only once a listener thread is free to run its listener, so work that
    waits on the database or Slack there would delay (and past 3 s, lose) other requests' acks.
    """

    def run() -> None:
        try:
            work()
        except Exception:
            log.exception("handling %s failed", what)

    ctx.background(run, lane)


def limit_kind(cmd: Command | None) -> str | None:
    """Which per-user limit a command counts against: migrations are requests; questions and
    commands that do not parse (each is answered, and audited) are queries. Help and cancel are
    never limited: help reads nothing, and cancel stops things."""
    if isinstance(cmd, MigrateCommand):
        return "request"
    if isinstance(cmd, HelpCommand | CancelCommand):
        return None
    return "query"


def handle_command(ctx: BotContext, body: dict[str, Any], respond: Respond) -> None:
    text = str(body.get("text") or "")
    user = Actor(str(body.get("user_id", "")), str(body.get("user_name") or body.get("user_id")))
    team, channel = str(body.get("team_id", "")), str(body.get("channel_id", ""))
    try:
        cmd: Command | UsageError = parse(text, known_clusters=ctx.clusters.names())
    except UsageError as e:
        cmd = e
    kind = limit_kind(None if isinstance(cmd, UsageError) else cmd)
    wait = ctx.limits.check(kind, user.id) if kind else 0.0
    if wait:
        # before the replay check: a refused command writes nothing at all
        log.info("slowed down %s: %s limit reached, %.0f s to wait", user.id, kind, wait)
        shown = render.render_slow_down(kind or "query", wait)
        respond(text=shown.text, blocks=shown.blocks, response_type="ephemeral")
        return
    if not ctx.first_time(f"cmd:{body.get('trigger_id', '')}"):
        log.info("dropped a replayed slash command")
        return
    if isinstance(cmd, UsageError):
        ctx.service.audit(
            "command.usage_error", user, team, channel, command=text[:500], error=cmd.message
        )
        shown = render.render_usage_error(cmd.message, cmd.usage)
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
            ctx.background(ctx.service.queue_preflight(request_id), Lane.PREFLIGHT)
        return
    if isinstance(cmd, CancelCommand):
        answer = ctx.service.cancel(cmd.request_id, user.id, team, channel)
        respond(text=answer.message, response_type="ephemeral")
        return
    from handlers import queries

    question = cmd
    if isinstance(question, HelpCommand):  # no cluster, no database: answered here
        queries.answer(ctx, question, body, respond)
        return
    ctx.background(lambda: queries.answer(ctx, question, body, respond), Lane.QUERY)
