"""The HTTP front door: Slack's `/slack/events`, health, readiness and metrics, as a plain ASGI
app (bot/http_server.py runs it under uvicorn).

Each Slack body is read within a time limit, checked against the signing secret over its raw
bytes, then parsed exactly once here; what was validated is what Bolt handles (issue #12,
finding 4: Bolt's own parser took any form body containing the text "payload" for an
interaction, so a user named "payload" got no answer). The server also bounds what a client
can hold: connections (`KSMC_HTTP_MAX_CONNECTIONS`), time to send the headers and the body, and
idle keep-alive (finding 6); a client that goes away mid-body is logged once, at INFO.
Everything after the ack goes through a `bot.dispatch.Backend`: Bolt in this process (tests),
or under `ksmc-bot serve` in the bot's process at the other end of a pipe (bot/frontdoor.py).

Why no web framework: the front door's process does nothing but this, and every request it
handles delays the acks queued behind it (issue #12, finding 5). Starlette's middleware, routing
and request objects were about a third of its CPU time per request; four routes need none of it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qs

from slack_sdk.signature import SignatureVerifier

from bot.dispatch import Backend, Forwarded, LocalBackend, Reply, count_refused, json_reply

if TYPE_CHECKING:
    from bot.app import Bot
    from bot.settings import Settings

#: ASGI's three arguments.
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

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


def headers_of(scope: Scope) -> dict[str, str]:
    """The request's headers, names in lower case (as HTTP/1.1 servers hand them to ASGI)."""
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}


class Disconnected(Exception):
    """The client went away before sending the whole body."""


async def read_body(
    receive: Receive,
    declared: str,
    timeout: float,
    refused: Callable[[str], None] = count_refused,
) -> bytes | Reply:
    """The body, or the answer when it is too big (413), too slow (408) or abandoned (400)."""
    if declared and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
        return json_reply(413, {"error": "request body too large"})
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise Disconnected
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    return json_reply(413, {"error": "request body too large"})
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
    except TimeoutError:
        refused("slow_body")
        return json_reply(408, {"error": "request body not sent in time"})
    except Disconnected:
        log.info("a client disconnected before sending the whole body (%d bytes read)", size)
        return Reply(400)
    return b"".join(chunks)


async def send_reply(send: Send, reply: Reply) -> None:
    headers = [(b"content-length", str(len(reply.body)).encode("ascii"))]
    for name, value in reply.headers.items():
        headers.append((name.lower().encode("latin-1"), value.encode("latin-1")))
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": reply.body})


#: The empty 200 that acks a command or a press (Bolt's own ack() sends the same).
ACK = Reply(200)
OK = Reply(200, b"ok", {"Content-Type": "text/plain; charset=utf-8"})
NOT_FOUND = Reply(404, b"Not Found", {"Content-Type": "text/plain; charset=utf-8"})
NOT_ALLOWED = Reply(405, b"Method Not Allowed", {"Content-Type": "text/plain; charset=utf-8"})


def http_app(bot: Bot) -> FrontDoorApp:
    """The front door with Bolt in this process (tests; `serve` puts it in a process of its
    own, bot/frontdoor.py)."""
    return slack_app(bot.settings, LocalBackend(bot))


def slack_app(settings: Settings, backend: Backend) -> FrontDoorApp:
    return FrontDoorApp(settings, backend)


class FrontDoorApp:
    """The ASGI app: GET /healthz, /readyz and /metrics; POST /slack/events in HTTP mode."""

    def __init__(self, settings: Settings, backend: Backend) -> None:
        self.backend = backend
        self.verifier = SignatureVerifier(settings.slack_signing_secret.get_secret_value())
        self.body_timeout = settings.http_body_timeout
        self.routes: dict[str, tuple[str, Callable[[Scope, Receive], Awaitable[Reply]]]] = {
            "/healthz": ("GET", self.healthz),
            "/readyz": ("GET", self.readyz),
            "/metrics": ("GET", self.metrics),
        }
        if not settings.socket_mode:
            self.routes["/slack/events"] = ("POST", self.events)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if scope["type"] != "http":
            return  # uvicorn runs without websockets
        route = self.routes.get(scope["path"])
        if route is None:
            reply = NOT_FOUND
        elif scope["method"] != route[0] and not (route[0] == "GET" and scope["method"] == "HEAD"):
            reply = NOT_ALLOWED
        else:
            reply = await route[1](scope, receive)
        await send_reply(send, reply)

    async def events(self, scope: Scope, receive: Receive) -> Reply:
        """Slack's requests: bounded in size and time, signature-checked over the raw bytes and
        parsed once, then handed to the backend (Bolt's dispatch blocks until the listener
        acks, which must not hold up other requests' acks)."""
        arrived = time.perf_counter()
        headers = headers_of(scope)
        backend = self.backend
        body = await read_body(
            receive, headers.get("content-length", ""), self.body_timeout, backend.refused
        )
        if isinstance(body, Reply):
            return body
        timestamp = headers.get("x-slack-request-timestamp", "")
        signature = headers.get("x-slack-signature", "")
        if not signed_by_slack(self.verifier, body, timestamp, signature):
            return json_reply(401, {"error": "invalid request"})
        try:
            kind, parsed = parse(headers.get("content-type", ""), body)
        except Malformed as e:
            log.warning("refused a signed but malformed Slack request (%d bytes): %s", len(body), e)
            return json_reply(400, {"error": f"malformed request: {e}"})
        query = scope.get("query_string", b"").decode("latin-1")
        req = Forwarded(parsed, query, headers)
        if kind == "ours":
            # Verified, parsed and routed to one of our listeners: ack now, whatever the
            # listener threads or the CPU are busy with (Bolt answers 404 to a listener that
            # could not start within 3 s). The listeners' own ack() is empty too, so Slack sees
            # exactly the same answer.
            backend.acked(req)
            backend.observe_ack(slack_kind(parsed), time.perf_counter() - arrived)
            return ACK
        reply = await backend.answer(req)
        backend.observe_ack(slack_kind(parsed), time.perf_counter() - arrived)
        return reply

    async def healthz(self, _scope: Scope, _receive: Receive) -> Reply:
        return OK

    async def readyz(self, _scope: Scope, _receive: Receive) -> Reply:
        return await self.backend.ready()

    async def metrics(self, scope: Scope, _receive: Receive) -> Reply:
        return await self.backend.metrics(headers_of(scope).get("accept"))


async def lifespan(receive: Receive, send: Send) -> None:
    """Nothing to start or stop: uvicorn is told so."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
