"""Answers to questions asked in chat (help, history, show); fleet queries build on the engine.

Answers go back through the command's response_url, ephemeral unless the asker said `public`.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Respond

from bot.context import BotContext
from handlers import grammar, render
from handlers.grammar import Command, HelpCommand, HistoryCommand, ShowCommand


def _kind(public: bool) -> str:
    return "in_channel" if public else "ephemeral"


def answer(ctx: BotContext, cmd: Command, body: dict[str, Any], respond: Respond) -> None:
    public = bool(getattr(cmd, "public", False))
    if isinstance(cmd, HelpCommand):
        text = grammar.usage(cmd.topic) if cmd.topic else grammar.usage(None)
        respond(text=f"```{render.escape_mrkdwn(text)}```", response_type=_kind(public))
        return
    if isinstance(cmd, HistoryCommand):
        snaps = ctx.service.recent(cmd.limit)
        lines = [
            f"`{s.id}` {s.state.value} {render.escape_mrkdwn(s.member)} → "
            f"{render.escape_mrkdwn(s.target_host)} by <@{s.requester_id}> "
            f"({s.created_at:%Y-%m-%d %H:%M}Z)"
            for s in snaps
        ]
        respond(text="\n".join(lines) or "No requests yet.", response_type=_kind(public))
        return
    if isinstance(cmd, ShowCommand):
        snap = ctx.service.snapshot(cmd.request_id)
        team = str(body.get("team_id", ""))
        if snap is None or snap.team_id != team:
            respond(text=f"There is no request {cmd.request_id}.", response_type="ephemeral")
            return
        from datetime import UTC, datetime

        shown = render.render_request(snap, datetime.now(UTC))
        respond(text=shown.text, blocks=shown.blocks, response_type=_kind(public))
        return
    respond(text="That question is not answered yet in this version.", response_type="ephemeral")
