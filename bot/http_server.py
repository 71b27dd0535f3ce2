"""The HTTP server around the front door (bot/http.py): uvicorn on httptools' C parser, with the
bot's limits (issue #12, finding 6): a connection cap, deadlines for a request's headers and
body, idle keep-alive closed, and uvicorn's per-connection complaints rate-limited in the log.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from bot.dispatch import count_refused
from bot.http import http_app

if TYPE_CHECKING:
    from bot.app import Bot
    from bot.settings import Settings


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline for each request's headers, counted from
    the connection (first request) or the request's first byte (later ones on a keep-alive
    connection): uvicorn has none, so a client sending its headers a byte at a time
    (slowloris) would hold a connection forever."""

    header_timeout = 5.0
    #: Counts a refusal (ksmc_http_refused); the front door's process sends it to the bot's.
    refused: Callable[[str], None] = staticmethod(count_refused)

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._header_deadline: asyncio.TimerHandle | None = None
        self._arm_header_deadline()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_deadline is None:
            self._arm_header_deadline()

    def on_headers_complete(self) -> None:
        self._disarm_header_deadline()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        super().connection_lost(exc)

    def _arm_header_deadline(self) -> None:
        self._header_deadline = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _disarm_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if not self.transport.is_closing():
            self.refused("slow")
            self.transport.close()


class RepeatFilter(logging.Filter):
    """Lets one record per message template through every `interval` seconds and counts the
    rest into the next one: uvicorn logs "Exceeded concurrency limit." per refused connection,
    which a flood would turn into megabytes of log."""

    def __init__(self, interval: float = 10.0) -> None:
        super().__init__()
        self.interval = interval
        self._last: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        key = str(record.msg)
        now = time.monotonic()
        with self._lock:
            last, dropped = self._last.get(key, (-self.interval, 0))
            if now - last < self.interval:
                self._last[key] = (last, dropped + 1)
                return False
            self._last[key] = (now, 0)
        if dropped:
            record.msg = f"{record.msg} (and {dropped} more like it)"
        return True


_REPEATS = RepeatFilter()


def freeze_start_up_objects() -> None:
    """Put what starting allocated (modules, settings, the app, the clients) out of the garbage
    collector's reach: a full collection of the front door's ~96,000 start-up objects took
    25-70 ms, during which its event loop acks nothing (and in the bot's process no thread
    runs). What the process allocates later is collected as before."""
    gc.collect()
    gc.freeze()


def server_config(bot: Bot, app: Any) -> Any:
    return uvicorn_config(bot.settings, app)


def uvicorn_config(
    settings: Settings, app: Any, refused: Callable[[str], None] = count_refused
) -> Any:
    """uvicorn's settings with the bot's limits: connections beyond the cap get 503 at once,
    idle keep-alive connections are closed, headers and bodies must arrive in time."""
    import uvicorn

    uvicorn_log = logging.getLogger("uvicorn.error")
    if _REPEATS not in uvicorn_log.filters:
        uvicorn_log.addFilter(_REPEATS)
    protocol = type(
        "BotHttpProtocol",
        (GuardedHttpToolsProtocol,),
        {"header_timeout": settings.http_header_timeout, "refused": staticmethod(refused)},
    )
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http=protocol,
        limit_concurrency=settings.http_max_connections,
        timeout_keep_alive=int(max(1, settings.http_keepalive_timeout)),
        backlog=min(2048, settings.http_max_connections * 4),
        log_level="warning",
        access_log=False,
        log_config=None,  # uvicorn's records go to the process's (filtered) handlers
    )


def serve(bot: Bot, stop: threading.Event | None = None) -> None:
    """Run until stopped: HTTP (health, metrics, and Slack events in HTTP mode), Socket Mode.
    In HTTP mode the front door runs in a process of its own (bot/frontdoor.py says why)."""
    import uvicorn

    bot.start_background()
    freeze_start_up_objects()
    if not bot.settings.socket_mode:
        from bot import frontdoor

        try:
            frontdoor.serve(bot, stop or threading.Event())
        finally:
            bot.close()
        return
    socket = None
    if bot.settings.socket_mode and bot.settings.slack_app_token is not None:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        socket = SocketModeHandler(bot.slack, bot.settings.slack_app_token.get_secret_value())
        socket.connect()  # type: ignore[no-untyped-call]
    server = uvicorn.Server(server_config(bot, http_app(bot)))
    if stop is not None:

        def stop_when_asked() -> None:
            stop.wait()
            server.should_exit = True

        threading.Thread(target=stop_when_asked, daemon=True).start()
    try:
        server.run()
    finally:
        if socket is not None:
            socket.close()  # type: ignore[no-untyped-call]
        bot.close()
