"""Where the HTTP front door's verified Slack requests are handled: by Bolt in the same process
(`LocalBackend`, for tests and the in-process harness) or by the bot's process at the other end
of a pipe (`bot.frontdoor.PipeBackend`, what `ksmc-bot serve` runs in HTTP mode).

The front door (bot/http.py) reads, verifies, parses and acks; everything after that goes
through a `Backend`, so the code that acks is the same whichever process Bolt runs in.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from starlette.concurrency import run_in_threadpool

from bot.metrics import ACK_LATENCY, HTTP_REFUSED, exposition

if TYPE_CHECKING:
    from slack_bolt import App
    from slack_bolt.request import BoltRequest

    from bot.app import Bot

log = logging.getLogger("ksmc.http")


@dataclass(frozen=True)
class Forwarded:
    """A verified, parsed Slack request as Bolt is to see it: the dict parsed once by the front
    door (never the raw text again), the query string and the headers. Plain data, so that it
    can cross a pipe to the bot's process."""

    body: dict[str, Any]
    query: str
    headers: dict[str, str]

    @property
    def urgent(self) -> bool:
        """A button press or `/ksmc cancel`: what stops or decides a migration, which the lanes
        run on their urgent lane (handlers.actions, handlers.commands.lane_of) and which must
        not wait behind a burst of other requests for Bolt either."""
        if "command" not in self.body:
            return self.body.get("type") == "block_actions"
        words = str(self.body.get("text") or "").split()
        return bool(words) and words[0].lower() == "cancel"

    def bolt(self) -> BoltRequest:
        """Bolt's request. Bolt's "socket_mode" is the way to hand it a parsed body; it only
        skips Bolt's signature check, which the front door has done over the raw bytes."""
        from slack_bolt.request import BoltRequest  # here: the front door's process needs none

        headers: dict[str, str | Sequence[str]] = dict(self.headers)
        return BoltRequest(body=self.body, query=self.query, headers=headers, mode="socket_mode")


@dataclass(frozen=True)
class Reply:
    """An HTTP answer as plain data (it may come back over the pipe)."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def json_reply(status: int, content: dict[str, Any]) -> Reply:
    body = json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Reply(status, body, {"Content-Type": "application/json"})


class Backend(Protocol):
    """What the front door hands on once a request is verified and parsed."""

    def acked(self, request: Forwarded) -> None:
        """Bolt's handling of a request the front door has already acked (answer goes nowhere);
        returns at once, from the event loop."""

    async def answer(self, request: Forwarded) -> Reply:
        """Bolt's answer to a request that is not ours to ack (events, modals, options)."""

    async def ready(self) -> Reply:
        """/readyz: the database answers and its schema is current."""

    async def metrics(self, accept: str | None) -> Reply:
        """/metrics, negotiated by prometheus_client."""

    def observe_ack(self, kind: str, seconds: float) -> None:
        """One ack's latency, for the ksmc_ack_latency_seconds histogram."""

    def refused(self, reason: str) -> None:
        """One HTTP request refused before Slack handling (ksmc_http_refused)."""


def dispatch_acked(slack: App, request: BoltRequest) -> None:
    """Bolt's handling of a request that was already acked; its answer goes nowhere."""
    try:
        response = slack.dispatch(request)
    except Exception:
        log.exception("Bolt failed on an acknowledged request")
        return
    if response.status >= 400:
        log.warning("Bolt answered %d to an acknowledged request", response.status)


def bolt_reply(slack: App, request: BoltRequest) -> Reply:
    """Bolt's answer as plain data (its cookies are for OAuth flows, which the bot has none of)."""
    answer = slack.dispatch(request)
    return Reply(answer.status, answer.body.encode(), answer.first_headers_without_set_cookie())


def readiness(bot: Bot) -> Reply:
    from sqlalchemy import text  # here: the front door's process loads no database code

    from bot import db

    try:
        with bot.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        if not db.is_up_to_date(bot.engine):
            return json_reply(503, {"ready": False, "reason": "migrations pending"})
    except Exception as e:
        return json_reply(503, {"ready": False, "reason": type(e).__name__})
    return json_reply(200, {"ready": True})


def metrics_reply(accept: str | None) -> Reply:
    body, content_type = exposition(accept)
    return Reply(200, body, {"Content-Type": content_type})


def count_refused(reason: str) -> None:
    HTTP_REFUSED.labels(reason).inc()


class LocalBackend:
    """Bolt in the front door's own process, on starlette's threadpool."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self._dispatching: set[asyncio.Future[None]] = set()  # acked, Bolt still handling

    def acked(self, request: Forwarded) -> None:
        task = asyncio.ensure_future(
            run_in_threadpool(dispatch_acked, self.bot.slack, request.bolt())
        )
        self._dispatching.add(task)
        task.add_done_callback(self._dispatching.discard)

    async def answer(self, request: Forwarded) -> Reply:
        return await run_in_threadpool(bolt_reply, self.bot.slack, request.bolt())

    async def ready(self) -> Reply:
        return readiness(self.bot)

    async def metrics(self, accept: str | None) -> Reply:
        return metrics_reply(accept)

    def observe_ack(self, kind: str, seconds: float) -> None:
        ACK_LATENCY.labels(kind).observe(seconds)

    def refused(self, reason: str) -> None:
        count_refused(reason)
