"""The bot's Prometheus metrics, through prometheus_client (issue #14: a maintained library, real
histograms, and the process collectors for free), served at `/metrics` by bot/http.py.

Every metric is defined here, so their names, labels and buckets are one list for the Grafana
dashboard and the alerts in helm/ksmc-bot (tests/bot/test_metrics.py scrapes them). Labels have few
values (a request kind, a step kind, an outcome), except the running-step deadline, whose
series exist only while a step runs.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import TypeVar

from prometheus_client import (
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.exposition import choose_encoder

#: Slack wants an answer within 3 s: the buckets are dense below that.
ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)
#: Preflight reads every cluster, each bounded by KSMC_GATHER_TIMEOUT (15 s by default).
PREFLIGHT_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0, 60.0)
#: A step waits up to KSMC_WAIT_TIMEOUT (180 s), sync-jwt up to KSMC_INSTALLER_TIMEOUT (900 s).
STEP_BUCKETS = (0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0)

SLACK_REQUESTS = Counter(
    "ksmc_slack_requests", "Slack requests handled, by kind (command, block_actions, …)", ["kind"]
)
ACK_LATENCY = Histogram(
    "ksmc_ack_latency_seconds",
    "Time from a signed Slack request's arrival to the bot's HTTP answer",
    ["kind"],
    buckets=ACK_BUCKETS,
)
HTTP_REFUSED = Counter(
    "ksmc_http_refused", "HTTP requests refused before Slack handling, by reason", ["reason"]
)
REFUSALS = Counter(
    "ksmc_refusals", "Refusals the audit log records, by action (approval.refused, …)", ["action"]
)
PREFLIGHT_SECONDS = Histogram(
    "ksmc_preflight_duration_seconds",
    "Time a preflight took, by outcome (passed, blocked, crashed)",
    ["outcome"],
    buckets=PREFLIGHT_BUCKETS,
)
STEP_SECONDS = Histogram(
    "ksmc_step_duration_seconds",
    "Time spent in each migration or undo step, by step kind and outcome",
    ["kind", "outcome"],
    buckets=STEP_BUCKETS,
)
STEP_DEADLINE = Gauge(
    "ksmc_step_deadline_timestamp_seconds",
    "While a step runs: when its own timeouts should have ended it (a later time means stuck)",
    ["request_id", "index", "kind"],
)
MIGRATIONS = Counter("ksmc_migrations", "Migrations finished, by outcome", ["outcome"])
ROLLBACKS = Counter("ksmc_rollbacks", "Roll backs finished, by outcome", ["outcome"])
LEADER = Gauge("ksmc_leader", "1 on the replica that runs the scheduler and executor")
IN_FLIGHT = Gauge(
    "ksmc_migrations_in_flight", "Migrations and roll backs this replica is executing now"
)

#: Seconds a step of each kind may wait before its own timeout fails it (set by `configure`).
_timeouts: dict[str, float] = {}
_default_timeout = 180.0
_lock = threading.Lock()

T = TypeVar("T")


def configure(wait_timeout: float, installer_timeout: float) -> None:
    """The engine's timeouts, for the running-step deadlines (KSMC_WAIT_TIMEOUT and
    KSMC_INSTALLER_TIMEOUT: sync_jwt waits for ks-installer, every other step for controllers)."""
    global _default_timeout
    # `_created` series double every counter's and histogram's lines and no panel or alert
    # uses them (the library reads this flag when it is scraped)
    disable_created_metrics()  # type: ignore[no-untyped-call]
    with _lock:
        _default_timeout = wait_timeout
        _timeouts["sync_jwt"] = installer_timeout


def step_started(request_id: str, index: int, kind: str) -> None:
    with _lock:
        timeout = _timeouts.get(kind, _default_timeout)
    STEP_DEADLINE.labels(request_id, str(index), kind).set(time.time() + timeout)


def step_ended(request_id: str, index: int, kind: str, outcome: str, seconds: float) -> None:
    STEP_SECONDS.labels(kind, outcome).observe(seconds)
    # older prometheus_client raises KeyError for a series it never had (a step started before
    # this process did, resumed after a restart)
    with contextlib.suppress(KeyError):
        STEP_DEADLINE.remove(request_id, str(index), kind)


def observe_preflight(outcome: str, seconds: float) -> None:
    """One preflight's duration, under its outcome: passed, blocked or crashed."""
    PREFLIGHT_SECONDS.labels(outcome).observe(seconds)


def exposition(accept: str | None) -> tuple[bytes, str]:
    """The `/metrics` body and its content type, negotiated by the library from the scraper's
    Accept header (Prometheus text 0.0.4 by default, OpenMetrics when asked for)."""
    encoder, content_type = choose_encoder(accept or "")
    body: bytes = encoder(REGISTRY)
    return body, content_type
