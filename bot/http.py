"""The HTTP front door: Slack's `/slack/events`, health, readiness and metrics, under uvicorn.

Each Slack body is read within a time limit, checked against the signing secret over its raw
bytes, then parsed exactly once here; what was validated is what Bolt handles (issue #12,
finding 4: Bolt's own parser took any form body containing the text "payload" for an
interaction, so a user named "payload" got no answer). The server also bounds what a client
can hold: connections (`KSMC_HTTP_MAX_CONNECTIONS`), time to send the headers and the body, and
idle keep-alive (finding 6); a client that goes away mid-body is logged once, at INFO.
Everything after the ack goes through a `bot.dispatch.Backend`: Bolt in this process (tests),
or under `ksmc-bot serve` in the bot's process at the other end of a pipe (bot/frontdoor.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qs

from slack_sdk.signature import SignatureVerifier
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect
from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from uvicorn.protocols.http.h11_impl import H11Protocol

from bot.dispatch import Backend, Forwarded, LocalBackend, count_refused

if TYPE_CHECKING:
    from bot.app import Bot
    from bot.settings import Settings

log = logging.getLogger("ksmc.http")

#: The largest Slack request body the endpoint reads. Slack's payloads are a few kilobytes (a
#: block_actions payload carries the whole message, at most ~50 blocks): anything bigger is
#: refused before it is buffered, signature-checked or parsed.
MAX_BODY_BYTES = 1024 * 1024

#: Slack's replay window: a signature older (or newer) than this is refused.
MAX_CLOCK_SKEW_SECONDS = 5 * 60

#: The slash command and the button actions the bot's listeners handle (acked here at once).
COMMAND = "/ksmc"
ACTIONS = frozenset(
    {"ksmc_approve", "ksmc_reject", "ksmc_retry", "ksmc_abandon", "ksmc_cancel", "ksmc_rollback"}
)


def signed_by_slack(
    verifier: SignatureVerifier, body: bytes, timestamp: str, signature: str
) -> bool:
    """Slack's v0 signature, checked by slack_sdk's `SignatureVerifier` (constant-time compare,
    5-minute replay window, docs/slack.md §5). The headers' shape is checked first because the
    verifier raises on a timestamp that is not an integer or a signature that is not ASCII."""
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) < 16):
        return False
    if not signature.isascii():
        return False
    try:
        text_ = body.decode("utf-8")
    except UnicodeDecodeError:
        return _signed_bytes(verifier, body, timestamp, signature)
    return verifier.is_valid(text_, timestamp, signature)


def _signed_bytes(verifier: SignatureVerifier, body: bytes, timestamp: str, signature: str) -> bool:
    """The same v0 signature over bytes that are not UTF-8, which the verifier (it hashes text)
    cannot take. No Slack request is such a body, but a signed one is still told from a forged
    one: 400 for what Slack signed and Bolt cannot read, 401 for a forgery (issue #12)."""
    if abs(verifier.clock.now() - int(timestamp)) > MAX_CLOCK_SKEW_SECONDS:
        return False
    base = b"v0:" + timestamp.encode("ascii") + b":" + body
    key = verifier.signing_secret.encode("utf-8")
    return hmac.compare_digest("v0=" + hmac.new(key, base, hashlib.sha256).hexdigest(), signature)


#: What a parsed body is: our command or button press (acked at once), or anything else.
Kind = Literal["ours", "other"]


class Malformed(Exception):
    """A signed body Bolt could not handle; the text says why (answered with 400)."""


def parse(content_type: str, body: bytes) -> tuple[Kind, dict[str, Any]]:
    """The one parse of a signed body, as Slack sends them: JSON (Events API) with a JSON
    content type; otherwise a form that is a slash command (`command`), an interaction (one
    `payload` field holding a JSON object) or an SSL check. Anything else is `Malformed`."""
    try:
        text_ = body.decode("utf-8")
        if content_type.split(";")[0].strip().lower() == "application/json":
            payload: Any = json.loads(text_)
            if not isinstance(payload, dict):
                raise Malformed("a JSON body must be an object")
            return "other", _checked(payload)
        if text_.lstrip().startswith(("{", "[")):
            raise Malformed("a JSON body must be sent as application/json")
        form = parse_qs(text_, keep_blank_values=True, strict_parsing=bool(text_))
    except (UnicodeDecodeError, RecursionError) as e:
        raise Malformed(f"unreadable body ({type(e).__name__})") from None
    except ValueError as e:
        raise Malformed(f"unparseable body ({type(e).__name__})") from None
    if not all(len(v) == 1 for v in form.values()):
        raise Malformed("a form field is repeated")
    fields = {k: v[0] for k, v in form.items()}
    if "payload" in fields:
        try:
            payload = json.loads(fields["payload"])
        except (ValueError, RecursionError):
            raise Malformed("the payload field is not JSON") from None
        if not isinstance(payload, dict):
            raise Malformed("the payload field must hold a JSON object")
        _checked(payload)
        actions = payload.get("actions") or [{}]
        ours = payload.get("type") == "block_actions" and actions[0].get("action_id") in ACTIONS
        return ("ours" if ours else "other"), payload
    if "command" in fields:
        return ("ours" if fields["command"] == COMMAND else "other"), fields
    if "ssl_check" in fields:
        return "other", fields
    raise Malformed("not a Slack request: no command, payload or ssl_check field")


def _checked(payload: dict[str, Any]) -> dict[str, Any]:
    for key in ("user", "team", "channel", "container", "enterprise", "message", "view"):
        if payload.get(key) is not None and not isinstance(payload[key], dict):
            raise Malformed(f"{key} must be an object")
    actions = payload.get("actions")
    if actions is not None and not (
        isinstance(actions, list) and all(isinstance(a, dict) for a in actions)
    ):
        raise Malformed("actions must be a list of objects")
    return payload


#: The kinds of Slack request the ack-latency histogram tells apart (anything else: "other").
SLACK_KINDS = frozenset(
    {"block_actions", "block_suggestion", "view_submission", "view_closed", "event_callback"}
)


def slack_kind(parsed: dict[str, Any]) -> str:
    """A metrics label for a parsed request: a few values, whatever the payload says."""
    if "command" in parsed:
        return "command"
    kind = parsed.get("type")
    return kind if isinstance(kind, str) and kind in SLACK_KINDS else "other"


def forwarded(parsed: dict[str, Any], request: HttpRequest) -> Forwarded:
    """What Bolt is to handle: the dict parsed above, never the raw text again."""
    return Forwarded(parsed, request.url.query, {k: v for k, v in request.headers.items()})


async def read_body(
    request: HttpRequest, timeout: float, refused: Callable[[str], None] = count_refused
) -> bytes | Response:
    """The body, or the answer when it is too big (413), too slow (408) or abandoned."""
    declared = request.headers.get("content-length", "")
    if declared and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
        return JSONResponse({"error": "request body too large"}, 413)
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    return JSONResponse({"error": "request body too large"}, 413)
                chunks.append(chunk)
    except TimeoutError:
        refused("slow_body")
        return JSONResponse({"error": "request body not sent in time"}, 408)
    except ClientDisconnect:
        log.info("a client disconnected before sending the whole body (%d bytes read)", size)
        return Response(status_code=400)
    return b"".join(chunks)


def http_app(bot: Bot) -> Starlette:
    """The front door with Bolt in this process (tests; `serve` puts it in a process of its
    own, bot/frontdoor.py)."""
    return slack_app(bot.settings, LocalBackend(bot))


def slack_app(settings: Settings, backend: Backend) -> Starlette:
    verifier = SignatureVerifier(settings.slack_signing_secret.get_secret_value())
    body_timeout = settings.http_body_timeout

    async def events(request: HttpRequest) -> Response:
        """Slack's requests: bounded in size and time, signature-checked over the raw bytes and
        parsed once, then handed to the backend (Bolt's dispatch blocks until the listener
        acks, which must not hold up other requests' acks)."""
        arrived = time.perf_counter()
        body = await read_body(request, body_timeout, backend.refused)
        if isinstance(body, Response):
            return body
        timestamp = request.headers.get("x-slack-request-timestamp", "")
        signature = request.headers.get("x-slack-signature", "")
        if not signed_by_slack(verifier, body, timestamp, signature):
            return JSONResponse({"error": "invalid request"}, 401)
        try:
            kind, parsed = parse(request.headers.get("content-type", ""), body)
        except Malformed as e:
            log.warning("refused a signed but malformed Slack request (%d bytes): %s", len(body), e)
            return JSONResponse({"error": f"malformed request: {e}"}, 400)
        req = forwarded(parsed, request)
        if kind == "ours":
            # Verified, parsed and routed to one of our listeners: ack now, whatever the
            # listener threads or the CPU are busy with (Bolt answers 404 to a listener that
            # could not start within 3 s). The listeners' own ack() is empty too, so Slack sees
            # exactly the same answer.
            backend.acked(req)
            backend.observe_ack(slack_kind(parsed), time.perf_counter() - arrived)
            return Response(status_code=200)
        response = (await backend.answer(req)).response()
        backend.observe_ack(slack_kind(parsed), time.perf_counter() - arrived)
        return response

    async def healthz(_request: HttpRequest) -> Response:
        return PlainTextResponse("ok")

    async def readyz(_request: HttpRequest) -> Response:
        return (await backend.ready()).response()

    async def metrics(request: HttpRequest) -> Response:
        return (await backend.metrics(request.headers.get("accept"))).response()

    routes = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
    ]
    if not settings.socket_mode:
        routes.append(Route("/slack/events", events, methods=["POST"]))
    return Starlette(routes=routes)


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for the request headers: uvicorn has none, so a
    client sending its headers a byte at a time (slowloris) would hold a connection forever."""

    header_timeout = 5.0
    #: Counts a refusal (ksmc_http_refused); the front door's process sends it to the bot's.
    refused: Callable[[str], None] = staticmethod(count_refused)

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._header_deadline: asyncio.TimerHandle | None = self.loop.call_later(
            self.header_timeout, self._headers_too_slow
        )

    def _headers_too_slow(self) -> None:
        if self.cycle is None and not self.transport.is_closing():
            self.refused("slow")
            self.transport.close()

    def handle_events(self) -> None:
        super().handle_events()
        if self.cycle is not None and self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
        super().connection_lost(exc)


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
        "BotH11Protocol",
        (GuardedH11Protocol,),
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
