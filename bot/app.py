"""The composition root: build the bot from settings and serve Slack (HTTP or Socket Mode).

It is the one place that knows every layer; handlers, the service and the engine are wired
here and nowhere else, so tests and the console can wire them differently.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from sqlalchemy import text
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot import db
from bot.context import BotContext
from bot.leader import Leadership
from bot.metrics import METRICS
from bot.ports import Identity, Notifier
from bot.runner import Runner
from bot.scheduler import LeaderScheduler, PersistentScheduler
from bot.service import Policy, RequestService
from bot.settings import Settings
from k8s import migration
from k8s.access import ClusterRegistry

log = logging.getLogger("ksmc.app")


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
        self.ctx.service.recover()

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
    from handlers import actions, commands
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
        preflight=lambda spec, busy: migration.preflight(
            chosen_registry, spec, busy, engine_settings
        ),
    )
    if isinstance(slack_notifier, SlackNotifier):
        slack_notifier.set_message_ts = service.set_message_ts
    member_kubeconfig = _member_kubeconfig(settings)
    runner = Runner(
        service,
        sessions,
        slack_notifier,
        execute=lambda plan, sink, busy: migration.execute(
            chosen_registry,
            plan,
            sink,
            member_kubeconfig,
            running_members=busy,
            settings=engine_settings,
        ),
    )
    scheduler.bind(service, runner)
    ctx = BotContext(
        service, runner, sessions, registry.names, registry, settings.gather_timeout
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
    bot = Bot(settings, engine, ctx, app, client, scheduler, registry, notifier=slack_notifier)
    bot.leader_flag = leader_flag
    return bot


def _is_leader(flag: dict[str, Leadership]) -> bool:
    leadership = flag.get("current")
    return leadership is not None and leadership.is_leader


def _member_kubeconfig(settings: Settings) -> Callable[[str], bytes]:
    def read(member: str) -> bytes:
        if not settings.kubeconfig:
            raise KeyError("the bot has no kubeconfig to give the new host for this member")
        return migration.standalone_kubeconfig(settings.kubeconfig, member)

    return read


def http_app(bot: Bot) -> Starlette:
    from slack_bolt.adapter.starlette import SlackRequestHandler

    handler = SlackRequestHandler(bot.slack)

    async def events(request: HttpRequest) -> Response:
        response: Response = await handler.handle(request)
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
