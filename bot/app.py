"""The composition root: build the bot from settings and serve Slack (HTTP or Socket Mode).

It is the one place that knows every layer; handlers, the service and the engine are wired
here and nowhere else, so tests and the console can wire them differently.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from sqlalchemy.engine import Engine as Database

from bot import audit, db, metrics
from bot.clusters import ClusterReads
from bot.context import BotContext
from bot.engine import Engine
from bot.leader import Leadership
from bot.ports import Identity, Notifier
from bot.ratelimit import Limit, RateLimiter
from bot.runner import Runner
from bot.scheduler import TimerScheduler
from bot.scrub import credential_scrubber
from bot.service import Policy, RequestService
from bot.service.core import FORGET_SEEN_EVERY
from bot.settings import Settings
from k8s import migration
from k8s.registry import ClusterRegistry

log = logging.getLogger("ksmc.app")

#: How long `Bot.close` waits for the work in flight (a pod gets 30 s after SIGTERM by default).
CLOSE_GRACE = 10.0


@dataclass
class Bot:
    settings: Settings
    engine: Database
    ctx: BotContext
    slack: App
    client: WebClient
    scheduler: TimerScheduler
    registry: ClusterRegistry
    notifier: Notifier | None = None
    leadership: Leadership | None = None

    @property
    def service(self) -> RequestService:
        return self.ctx.service

    def start_background(self) -> None:
        """Join the leader election; the leader runs the scheduler and the executor."""
        self.leadership = Leadership(self.engine, self._lead)
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
        """Stop taking work, give the work in flight up to `CLOSE_GRACE` seconds to finish and
        its Slack updates to go out, then close the clusters' and the database's connections:
        closing them under running work would leave that work's connections open, and its
        messages unsent, after the bot is gone."""
        if self.leadership is not None:
            self.leadership.stop()
        self.scheduler.shutdown()
        deadline = time.monotonic() + CLOSE_GRACE
        if not self.ctx.lanes.shutdown(timeout=CLOSE_GRACE):
            log.warning("closing with work still running on the lanes")
        if not self.ctx.runner.shutdown(timeout=max(0.0, deadline - time.monotonic())):
            log.warning("closing with a migration still running; recovery resumes it")
        flush = getattr(self.notifier, "flush", None)
        if flush is not None:
            flush(5.0)
        stop = getattr(self.notifier, "close", None)
        if stop is not None:
            stop()
        self.registry.close()
        self.engine.dispose()
        audit.set_key(None)


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
    from handlers import actions, commands, home, migrate_modal
    from handlers.identity import SlackIdentity
    from handlers.notify import SlackNotifier

    db.upgrade(settings.database_url)
    database = db.make_engine(settings.database_url)
    audit.set_key(settings.audit_key.get_secret_value().encode() if settings.audit_key else None)
    if settings.audit_key is None:
        log.warning("KSMC_AUDIT_KEY is not set: the audit chain is unkeyed and can be rewritten")
    sessions = db.session_factory(database)
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
        installer_timeout=settings.installer_timeout,
        poll_interval=settings.poll_interval,
    )
    scheduler = TimerScheduler()
    scrub = credential_scrubber(settings)
    engine = Engine(registry, engine_settings, scrub)
    service = RequestService(
        sessions,
        Policy(
            approvers=settings.approvers,
            requesters=settings.requesters,
            required_approvals=settings.required_approvals,
            ttl=settings.approval_ttl,
            channels=settings.channels,
        ),
        identity or SlackIdentity(client),
        slack_notifier,
        engine,
    )
    if isinstance(slack_notifier, SlackNotifier):
        slack_notifier.set_message_ts = service.set_message_ts
    runner = Runner(service, sessions, slack_notifier, engine)
    scheduler.bind(service, runner)
    metrics.configure(settings.wait_timeout, settings.installer_timeout)
    metrics.IN_FLIGHT.set_function(runner.in_flight)
    scheduler.every("forget-seen-payloads", FORGET_SEEN_EVERY, service.forget_old_payloads)
    scheduler.every(
        "audit-anchor",
        settings.audit_anchor_interval,
        anchor_publisher(sessions, client, settings.audit_channel),
    )
    ctx = BotContext(
        service,
        runner,
        ClusterReads(registry, settings.gather_timeout, settings.max_cluster_reads, scrub),
        limits=RateLimiter(
            {
                "query": Limit(settings.query_limit, settings.query_window),
                "request": Limit(settings.request_limit, settings.request_window),
            }
        ),
    )
    app = App(
        client=client,
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        token_verification_enabled=False,
    )

    @app.middleware
    def count_requests(body: dict[str, Any], next: Callable[[], None]) -> None:
        kind = "command" if body.get("command") else str(body.get("type") or "other")
        metrics.SLACK_REQUESTS.labels(kind).inc()
        next()

    migrate_modal.register(app, ctx)  # before commands: bare `/ksmc migrate` opens the form
    commands.register(app, ctx)
    actions.register(app, ctx)
    home.register(app, ctx)
    bot = Bot(settings, database, ctx, app, client, scheduler, registry, notifier=slack_notifier)
    return bot


def anchor_publisher(sessions: Any, client: WebClient, channel: str | None) -> Callable[[], None]:
    """The leader's periodic job: publish the audit chain's head outside the database (the log,
    and the audit channel when set), so `audit verify --anchors` can tell that the newest events
    were cut off or history was rewritten. An unchanged head is not published again."""
    last: dict[str, tuple[int, str]] = {}

    def publish() -> None:
        with sessions() as session:
            event_id, mac = audit.head(session)
        if event_id == 0 or last.get("head") == (event_id, mac):
            return
        line = audit.anchor_line(event_id, mac, datetime.now(UTC))
        log.info("%s", line)
        if channel:
            try:
                client.chat_postMessage(channel=channel, text=line)
            except Exception:
                log.warning("posting the audit anchor to %s failed", channel, exc_info=True)
                return
        last["head"] = (event_id, mac)

    return publish
