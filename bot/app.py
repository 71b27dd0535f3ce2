"""The composition root: build the bot from settings and serve Slack (HTTP or Socket Mode).

It is the one place that knows every layer; handlers, the service and the engine are wired
here and nowhere else, so tests and the console can wire them differently.
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
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeVar

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from sqlalchemy import text
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot import db, logfilter
from bot.context import BotContext
from bot.leader import Leadership
from bot.metrics import METRICS
from bot.ports import Identity, Notifier
from bot.runner import Runner
from bot.scheduler import LeaderScheduler, PersistentScheduler
from bot.service import Policy, RequestService
from bot.settings import Settings
from k8s import migration
from k8s.executor import Outcome, ProgressSink, StepState
from k8s.plan import Step
from k8s.preflight import PreflightReport
from k8s.registry import ClusterRegistry

log = logging.getLogger("ksmc.app")

#: The largest Slack request body the endpoint reads. Slack's payloads are a few kilobytes (a
#: block_actions payload carries the whole message, at most ~50 blocks): anything bigger is
#: refused before it is buffered, signature-checked or parsed.
MAX_BODY_BYTES = 1024 * 1024


@dataclass
class Bot:
    settings: Settings
    engine: Engine
    ctx: BotContext
    slack: App
    client: WebClient
    scheduler: PersistentScheduler
    registry: ClusterRegistry
    notifier: Notifier | None = None
    leadership: Leadership | None = None
    leader_flag: dict[str, Leadership] = field(default_factory=dict)

    @property
    def service(self) -> RequestService:
        return self.ctx.service

    def start_background(self) -> None:
        """Join the leader election; the leader runs the scheduler and the executor."""
        self.leadership = Leadership(self.engine, self._lead)
        self.leader_flag["current"] = self.leadership
        self.leadership.start()

    def _lead(self) -> None:
        self.scheduler.start()
        resumed = self.ctx.runner.resume()
        for request_id in resumed:
            log.info("resumed request %s", request_id)
        self.ctx.background(self._catch_up)

    def _catch_up(self) -> None:
        """Re-render every unfinished request: Slack is a view of the database."""
        from bot import recovery

        recovery.recover(self.ctx.service)

    def close(self) -> None:
        if self.leadership is not None:
            self.leadership.stop()
        self.scheduler.shutdown()
        self.ctx.runner.shutdown()
        flush = getattr(self.notifier, "flush", None)
        if flush is not None:
            flush(5.0)
        self.ctx.pool.shutdown(wait=False, cancel_futures=True)
        self.registry.close()
        self.engine.dispose()


def slack_client(settings: Settings) -> WebClient:
    kwargs: dict[str, Any] = {}
    if settings.slack_api_url:
        kwargs["base_url"] = settings.slack_api_url.rstrip("/") + "/"
    client = WebClient(token=settings.slack_bot_token.get_secret_value(), **kwargs)
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=3))
    return client


def build(
    settings: Settings,
    *,
    registry: ClusterRegistry | None = None,
    identity: Identity | None = None,
    notifier: Notifier | None = None,
) -> Bot:
    from handlers import actions, commands, home
    from handlers.identity import SlackIdentity
    from handlers.notify import SlackNotifier

    db.upgrade(settings.database_url)
    engine = db.make_engine(settings.database_url)
    sessions = db.session_factory(engine)
    if registry is None:
        registry = ClusterRegistry.from_kubeconfig(
            settings.kubeconfig, in_cluster=settings.in_cluster_name
        )
    client = slack_client(settings)
    slack_notifier = notifier or SlackNotifier(client)
    engine_settings = migration.EngineSettings(
        gather_timeout=settings.gather_timeout,
        concurrency=settings.concurrency,
        wait_timeout=settings.wait_timeout,
        poll_interval=settings.poll_interval,
    )
    scheduler = PersistentScheduler(engine)
    scrub = credential_scrubber(settings)
    leader_flag: dict[str, Leadership] = {}
    chosen_registry = registry
    service = RequestService(
        sessions,
        Policy(
            approvers=settings.approvers,
            requesters=settings.requesters,
            required_approvals=settings.required_approvals,
            ttl=settings.approval_ttl,
        ),
        identity or SlackIdentity(client),
        slack_notifier,
        LeaderScheduler(scheduler, lambda: _is_leader(leader_flag)),
        preflight=lambda spec, busy: _scrubbed_report(
            migration.preflight(chosen_registry, spec, busy, engine_settings), scrub
        ),
    )
    if isinstance(slack_notifier, SlackNotifier):
        slack_notifier.set_message_ts = service.set_message_ts
    member_kubeconfig = _member_kubeconfig(settings)
    runner = Runner(
        service,
        sessions,
        slack_notifier,
        execute=lambda plan, sink, busy: _scrubbed_outcome(
            _contained(
                lambda: migration.execute(
                    chosen_registry,
                    plan,
                    ScrubbingSink(sink, scrub),
                    member_kubeconfig,
                    running_members=busy,
                    settings=engine_settings,
                )
            ),
            scrub,
        ),
    )
    scheduler.bind(service, runner)
    ctx = BotContext(
        service, runner, sessions, registry.names, registry, settings.gather_timeout, scrub=scrub
    )
    app = App(
        client=client,
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        token_verification_enabled=False,
    )

    @app.middleware
    def count_requests(body: dict[str, Any], next: Callable[[], None]) -> None:
        kind = "command" if body.get("command") else str(body.get("type") or "other")
        METRICS.inc("ksmc_slack_requests_total", "Slack requests handled", kind=kind)
        next()

    commands.register(app, ctx)
    actions.register(app, ctx)
    home.register(app, ctx)
    bot = Bot(settings, engine, ctx, app, client, scheduler, registry, notifier=slack_notifier)
    bot.leader_flag = leader_flag
    return bot


def credential_scrubber(settings: Settings) -> Callable[[str], str]:
    """A function that removes every credential the bot holds from a text: the kubeconfig's
    tokens and keys (of all clusters, since one cluster's error can echo what the bot sent it
    about another, also base64-encoded as in a Cluster object) and the Slack secrets, plus the
    values of secret-named fields (see `bot.logfilter`). The k8s layer already scrubs a
    cluster's own credentials from that cluster's errors; this is the bot-wide second line."""
    secrets = logfilter.kubeconfig_secrets(settings.kubeconfig)
    secrets += [
        settings.slack_bot_token.get_secret_value(),
        settings.slack_signing_secret.get_secret_value(),
    ]
    return logfilter.SafeLogFilter(secrets).clean


class ScrubbingSink:
    """The executor's progress sink with credentials removed from every text it records."""

    def __init__(self, inner: ProgressSink, scrub: Callable[[str], str]) -> None:
        self.inner = inner
        self.scrub = scrub

    def states(self) -> dict[int, StepState]:
        return self.inner.states()

    def started(self, index: int, step: Step) -> None:
        self.inner.started(index, step)

    def progressed(self, index: int, step: Step, message: str) -> None:
        self.inner.progressed(index, step, self.scrub(message))

    def finished(self, index: int, step: Step, message: str) -> None:
        self.inner.finished(index, step, self.scrub(message))

    def failed(self, index: int, step: Step, message: str, hint: str) -> None:
        self.inner.failed(index, step, self.scrub(message), self.scrub(hint))


def _scrubbed_outcome(outcome: Outcome, scrub: Callable[[str], str]) -> Outcome:
    return replace(outcome, message=scrub(outcome.message), hint=scrub(outcome.hint))


def _scrubbed_report(report: PreflightReport, scrub: Callable[[str], str]) -> PreflightReport:
    return replace(
        report,
        results=tuple(
            replace(r, message=scrub(r.message), remedy=scrub(r.remedy)) for r in report.results
        ),
        cluster_errors={k: scrub(v) for k, v in report.cluster_errors.items()},
    )


class EngineCrashed(Exception):
    """The engine raised something it should not have. Its text is only the original type's
    name: an unexpected exception's message can hold anything (a kubeconfig line, a token, a
    jwtSecret quoted by a YAML parser), and this text is stored and shown in Slack."""


_T = TypeVar("_T")


def _contained(work: Callable[[], _T]) -> _T:
    """Run engine work; an unexpected exception is logged (through the filtered log handlers)
    and replaced by an `EngineCrashed` that names only its type."""
    try:
        return work()
    except Exception as e:
        log.exception("the migration engine crashed")
        raise EngineCrashed(f"{type(e).__name__}; the bot's log has the details") from None


def _is_leader(flag: dict[str, Leadership]) -> bool:
    leadership = flag.get("current")
    return leadership is not None and leadership.is_leader


def _member_kubeconfig(settings: Settings) -> Callable[[str], bytes]:
    def read(member: str) -> bytes:
        if not settings.kubeconfig:
            raise KeyError("the bot has no kubeconfig to give the new host for this member")
        return migration.standalone_kubeconfig(settings.kubeconfig, member)

    return read


#: Slack's replay window: a signature older (or newer) than this is refused.
MAX_CLOCK_SKEW_SECONDS = 5 * 60


def signed_by_slack(secret: bytes, body: bytes, timestamp: str, signature: str) -> bool:
    """Slack's v0 signature over the raw bytes (whatever their encoding), compared in constant
    time, with a timestamp inside the 5-minute replay window (docs/slack.md §5)."""
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) < 16):
        return False
    if abs(time.time() - int(timestamp)) > MAX_CLOCK_SKEW_SECONDS:
        return False
    base = b"v0:" + timestamp.encode("ascii") + b":" + body
    expected = "v0=" + hmac.new(secret, base, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode("ascii"), signature.encode("utf-8", "replace"))


#: What a well-formed Slack body is: a slash command and a button press are acked at once.
Kind = Literal["command", "block_actions", "other"]


def _well_formed(content_type: str, body: bytes) -> Kind | None:
    """What a (signed) body is, or None when Bolt could not parse it without crashing: it must
    be UTF-8, and any JSON in it (a JSON body or the `payload` form field) an object whose known
    parts have the right types. A malformed body is answered 400 instead of a 500 from deep
    inside Bolt."""
    from urllib.parse import parse_qs

    try:
        text = body.decode("utf-8")
        if content_type.startswith("application/json"):
            payload: Any = json.loads(text)
        else:
            form = parse_qs(text, keep_blank_values=True)
            if "payload" not in form:
                if not all(len(v) == 1 for v in form.values()):
                    return None
                return "command" if form.get("command") else "other"
            if len(form["payload"]) != 1:
                return None
            payload = json.loads(form["payload"][0])
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(payload, dict):
        return None
    for key in ("user", "team", "channel", "container", "enterprise", "message", "view"):
        if payload.get(key) is not None and not isinstance(payload[key], dict):
            return None
    actions = payload.get("actions")
    if actions is not None and not (
        isinstance(actions, list) and all(isinstance(a, dict) for a in actions)
    ):
        return None
    return "block_actions" if payload.get("type") == "block_actions" else "other"


def _dispatch(slack: App, request: Any) -> None:
    """Bolt's handling of a request that was already acked; its answer goes nowhere."""
    try:
        response = slack.dispatch(request)
    except Exception:
        log.exception("Bolt failed on an acknowledged request")
        return
    if response.status >= 400:
        log.warning("Bolt answered %d to an acknowledged request", response.status)


def http_app(bot: Bot) -> Starlette:
    from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response

    secret = bot.settings.slack_signing_secret.get_secret_value().encode("utf-8")
    dispatching: set[asyncio.Future[None]] = set()  # acked requests Bolt is still handling

    async def events(request: HttpRequest) -> Response:
        """Slack's requests: bounded in size, signature-checked over the raw bytes and checked to
        be parseable before Bolt sees them, then dispatched off the event loop (Bolt's dispatch
        blocks until the listener acks, which must not hold up other requests' acks)."""
        declared = request.headers.get("content-length", "")
        if declared and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
            return JSONResponse({"error": "request body too large"}, 413)
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                return JSONResponse({"error": "request body too large"}, 413)
            chunks.append(chunk)
        body = b"".join(chunks)
        timestamp = request.headers.get("x-slack-request-timestamp", "")
        signature = request.headers.get("x-slack-signature", "")
        if not signed_by_slack(secret, body, timestamp, signature):
            return JSONResponse({"error": "invalid request"}, 401)
        kind = _well_formed(request.headers.get("content-type", ""), body)
        if kind is None:
            log.warning("refused a signed but malformed Slack request (%d bytes)", len(body))
            return JSONResponse({"error": "malformed request"}, 400)
        bolt_request = to_bolt_request(request, body)
        if kind != "other":
            # Verified and parseable: ack now, whatever the listener threads or the CPU are busy
            # with (Bolt answers 404 to a listener that could not start within 3 s). The
            # listeners' own ack() is empty too, so Slack sees exactly the same answer.
            task = asyncio.ensure_future(run_in_threadpool(_dispatch, bot.slack, bolt_request))
            dispatching.add(task)
            task.add_done_callback(dispatching.discard)
            return Response(status_code=200)
        bolt_response = await run_in_threadpool(bot.slack.dispatch, bolt_request)
        response: Response = to_starlette_response(bolt_response)
        return response

    async def healthz(_request: HttpRequest) -> Response:
        return PlainTextResponse("ok")

    async def readyz(_request: HttpRequest) -> Response:
        try:
            with bot.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            if not db.is_up_to_date(bot.engine):
                return JSONResponse({"ready": False, "reason": "migrations pending"}, 503)
        except Exception as e:
            return JSONResponse({"ready": False, "reason": type(e).__name__}, 503)
        return JSONResponse({"ready": True})

    async def metrics(_request: HttpRequest) -> Response:
        return PlainTextResponse(METRICS.render(), media_type="text/plain; version=0.0.4")

    routes = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
    ]
    if not bot.settings.socket_mode:
        routes.append(Route("/slack/events", events, methods=["POST"]))
    return Starlette(routes=routes)


def serve(bot: Bot, stop: threading.Event | None = None) -> None:
    """Run until stopped: HTTP (health, metrics, and Slack events in HTTP mode), Socket Mode."""
    import uvicorn

    bot.start_background()
    socket = None
    if bot.settings.socket_mode and bot.settings.slack_app_token is not None:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        socket = SocketModeHandler(bot.slack, bot.settings.slack_app_token.get_secret_value())
        socket.connect()  # type: ignore[no-untyped-call]
    config = uvicorn.Config(
        http_app(bot),
        host=bot.settings.host,
        port=bot.settings.port,
        log_level="warning",
        access_log=False,
        log_config=None,  # uvicorn's records go to the process's (filtered) handlers
    )
    server = uvicorn.Server(config)
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
