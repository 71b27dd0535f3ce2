"""`/metrics` is prometheus_client's exposition of what really happened, scraped over HTTP.

A migration is requested, refused once (the requester approving her own request), approved and
run on the simulated fleet through signed Slack requests; the scrape is parsed with
prometheus_client's own parser and compared with the scrape before, so the counts are this
test's (the registry is process-wide). While the slowed join step runs, the in-flight gauge is 1
and the step has a deadline in the future (what the "step stuck" alert compares with the clock);
afterwards both are gone. The leader gauge is 1 on the one replica.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from bot_harness import (
    ALICE,
    BOB,
    Client,
    Env,
    environment,
    in_process,
    latest_request_id,
    wait_for,
    wait_state,
)
from prometheus_client.parser import text_string_to_metric_families

from bot.states import RequestState as S

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def env(tmp_path: Path, migrated_db_url: str) -> Iterator[Env]:
    with environment(tmp_path, migrated_db_url) as e:
        yield e


@pytest.fixture
def bot(env: Env) -> Iterator[Client]:
    with in_process(env) as (client, _bot):
        yield client


def scrape(bot: Client) -> tuple[Samples, dict[str, str]]:
    response = bot.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: Samples = {}
    kinds: dict[str, str] = {}
    for family in text_string_to_metric_families(response.text):
        kinds[family.name] = family.type
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples, kinds


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def grew(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def deadlines(samples: Samples) -> dict[str, float]:
    return {
        dict(labels)["kind"]: v
        for (name, labels), v in samples.items()
        if name == "ksmc_step_deadline_timestamp_seconds"
    }


def test_a_migration_shows_in_the_scraped_metrics(bot: Client, env: Env) -> None:
    # the bot takes the leadership (a database lease) just after it starts serving
    wait_for(lambda: value(scrape(bot)[0], "ksmc_leader") == 1, 30, "the bot to lead")
    before, kinds = scrape(bot)
    assert kinds["ksmc_ack_latency_seconds"] == "histogram"
    assert kinds["ksmc_step_duration_seconds"] == "histogram"
    assert kinds["ksmc_preflight_duration_seconds"] == "histogram"
    assert kinds["ksmc_leader"] == "gauge" and value(before, "ksmc_leader") == 1
    assert "process_resident_memory_bytes" in kinds  # the library's process collector

    host_b = env.world.clusters["host-b"]
    host_b.add_fault({"method": "GET", "path": "/clusters/member-a$", "delay": 0.3})
    old = latest_request_id(env)
    assert bot.command("migrate member-a to host-b keep ns1,ns2", user=ALICE).status_code == 200
    rid = str(wait_for(lambda: (r := latest_request_id(env)) != old and r, 10, "the request"))
    wait_state(env, rid, S.PENDING)
    bot.press("ksmc_approve", rid, ALICE)  # refused: her own request
    wait_for(
        lambda: grew(before, scrape(bot)[0], "ksmc_refusals_total", action="approval.refused"),
        10,
        "the refusal counted",
    )
    bot.press("ksmc_approve", rid, BOB)

    def joining() -> Samples | None:
        now, _ = scrape(bot)
        return now if "join_cluster" in deadlines(now) else None

    during = wait_for(joining, 30, "the join step running")
    assert value(during, "ksmc_migrations_in_flight") == 1
    assert deadlines(during)["join_cluster"] > time.time()  # its own timeout not yet reached
    wait_state(env, rid, S.SUCCEEDED, timeout=60)

    # the state is stored (and shown) before the executor thread has returned: the gauge
    # follows a moment later
    def ended() -> Samples | None:
        now, _ = scrape(bot)
        return now if value(now, "ksmc_migrations_in_flight") == 0 else None

    after = wait_for(ended, 10, "the execution to end on this replica")

    assert grew(before, after, "ksmc_slack_requests_total", kind="command") == 1
    assert grew(before, after, "ksmc_slack_requests_total", kind="block_actions") == 2
    assert grew(before, after, "ksmc_ack_latency_seconds_count", kind="command") == 1
    assert grew(before, after, "ksmc_ack_latency_seconds_count", kind="block_actions") == 2
    # Slack's 3-second limit: every ack of this test fell in the 3 s bucket
    assert grew(before, after, "ksmc_ack_latency_seconds_bucket", kind="command", le="3.0") == 1
    assert grew(before, after, "ksmc_preflight_duration_seconds_count", outcome="passed") >= 1
    assert grew(before, after, "ksmc_refusals_total", action="approval.refused") == 1
    assert grew(before, after, "ksmc_migrations_total", outcome="succeeded") == 1
    assert grew(before, after, "ksmc_migrations_total", outcome="failed") == 0
    for kind in ("unbind_namespaces", "join_cluster", "rebind_namespaces", "verify"):
        done = grew(before, after, "ksmc_step_duration_seconds_count", kind=kind, outcome="done")
        assert done == 1, kind
    join_time = grew(
        before, after, "ksmc_step_duration_seconds_sum", kind="join_cluster", outcome="done"
    )
    assert join_time >= 0.3  # the injected delay is in the observed duration
    assert value(after, "ksmc_migrations_in_flight") == 0
    assert deadlines(after) == {}  # no step is running: nothing can look stuck
    assert value(after, "ksmc_leader") == 1
