"""Issue #12, finding 5 — starvation — through the bot's real HTTP endpoint with signed requests.

The attack: one cluster made slow (the simulator's fault API), then a guest's burst of
`/ksmc clusters`, then an approver's Reject. With one shared pool the Reject waited for the
burst's questions to finish. Now presses have workers of their own: the test keeps its own log of
when things happened and asserts the order — the Reject's ack and its effects (the audit row,
the request message updated) come before the first question of the burst is even answered, and
every question is still answered. No timed thresholds: only what happened before what.

Also here: the per-user rate limits (the N+1th question or request within the window gets a
"slow down" answer saying when to try again, and changes nothing: no cluster read, no row),
and the pieces (`bot.ratelimit`, `bot.work`, the read cap in `k8s.gather`) on their own.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import httpx
import pytest
from bot_harness import (
    ALICE,
    BOB,
    CHANNEL,
    GUEST,
    Client,
    Env,
    audit_actions,
    environment,
    in_process,
    latest_request_id,
    message_ts,
    state,
    wait_for,
    wait_state,
)
from test_abuse import counts

from bot import db
from bot.ratelimit import Limit, RateLimiter
from bot.states import RequestState as S
from bot.work import Lane, Lanes
from k8s.gather import gather_all
from k8s.registry import ClusterRegistry

#: Seconds every GET to the slow cluster takes; questions give each cluster SLOW + 1 s.
SLOW = 3.0
#: Questions in the burst: more than the old shared pool had threads (8), so with that pool
#: the Reject queued behind them.
BURST = 12


@pytest.fixture
def env(tmp_path: Path, request: pytest.FixtureRequest) -> Env:
    extra: dict[str, str] = getattr(request, "param", {})
    url = f"sqlite:///{tmp_path / 'ksmc.db'}"
    db.upgrade(url)
    manager = environment(tmp_path, url, **extra)
    found = manager.__enter__()
    request.addfinalizer(lambda: manager.__exit__(None, None, None))
    return found


def pending_request(client: Client, env: Env) -> str:
    before = latest_request_id(env)
    assert client.command("migrate member-a to host-b keep ns1,ns2").status_code == 200
    rid = str(wait_for(lambda: (r := latest_request_id(env)) != before and r, 10, "a request"))
    wait_state(env, rid, S.PENDING)
    wait_for(lambda: message_ts(env, rid), 10, "the request's message")
    return rid


def shown_text(env: Env, ts: str) -> str:
    message = env.stub.message(CHANNEL, ts)
    return message.text if message is not None else ""


class Timeline:
    """The test's own log: (seconds since the start, what), appended from several threads."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.entries: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    def record(self, what: str) -> None:
        with self._lock:
            self.entries.append((time.monotonic() - self.started, what))

    def when(self, what: str) -> float:
        return next(t for t, w in self.entries if w == what)

    def first(self, prefix: str) -> float:
        return min(t for t, w in self.entries if w.startswith(prefix))

    def watch(self, what: str, happened: Callable[[], object], timeout: float = 60) -> None:
        """Record `what` the moment `happened()` is first true (polled in a thread)."""

        def poll() -> None:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if happened():
                    self.record(what)
                    return
                time.sleep(0.02)

        thread = threading.Thread(target=poll, daemon=True)
        thread.start()
        self.threads = [*getattr(self, "threads", []), thread]

    def join(self) -> None:
        for thread in getattr(self, "threads", []):
            thread.join()

    def __str__(self) -> str:
        return "\n".join(f"{t:7.3f}s {w}" for t, w in sorted(self.entries))


@pytest.mark.parametrize("env", [{"KSMC_GATHER_TIMEOUT": str(SLOW + 1)}], indirect=True)
def test_a_reject_is_not_starved_by_a_guests_query_burst_while_a_cluster_is_slow(
    env: Env,
) -> None:
    with in_process(env) as (client, _bot):
        rid = pending_request(client, env)
        ts = str(message_ts(env, rid))
        env.world.clusters["member-b"].add_fault({"method": "GET", "path": ".*", "delay": SLOW})
        log = Timeline()
        hooks = []
        for i in range(BURST):
            response = client.command("clusters", user=GUEST, name=f"burst-{i}")
            assert response.status_code == 200
            hooks.append(f"burst-{i}")
        log.record("burst acked")
        for hook in hooks:
            log.watch(f"answer {hook}", partial(env.stub.responses, hook))
        log.watch("reject: audit row", lambda: "request.rejected" in audit_actions(env, rid))
        log.watch("reject: message updated", lambda: "rejected" in shown_text(env, ts))
        response, _hook = client.press("ksmc_reject", rid, BOB)
        log.record("reject acked")
        assert response.status_code == 200
        log.join()

        assert state(env, rid) == S.REJECTED
        assert len([w for _t, w in log.entries if w.startswith("answer ")]) == BURST, str(log)
        first_answer = log.first("answer ")
        # the Reject waited for no question: acked and done before any of the burst was answered
        assert log.when("burst acked") < log.when("reject acked") < first_answer, str(log)
        assert log.when("reject: audit row") < first_answer, str(log)
        assert log.when("reject: message updated") < first_answer, str(log)
        # and the burst was really held up by the slow cluster (the attack took place)
        answers = " ".join(json.dumps(env.stub.responses(h)) for h in hooks)
        assert "member-b" in answers and "did not answer" in answers


LIMITED = {"KSMC_QUERY_LIMIT": "3", "KSMC_QUERY_WINDOW": "600", "KSMC_REQUEST_LIMIT": "1"}


def answer_text(env: Env, hook: str) -> str:
    wait_for(lambda: env.stub.responses(hook), 15, f"an answer on {hook}")
    return " ".join(json.dumps(r) for r in env.stub.responses(hook))


def cluster_reads(env: Env) -> int:
    total = 0
    for cluster in env.world.clusters.values():
        total += len(httpx.get(f"{cluster.url}/_sim/requests").json()["requests"])
    return total


@pytest.mark.parametrize("env", [LIMITED], indirect=True)
def test_the_question_over_the_limit_is_told_to_slow_down_and_changes_nothing(env: Env) -> None:
    with in_process(env) as (client, _bot):
        for i in range(3):
            client.command("clusters", user=GUEST, name=f"q-{i}")
            assert "Clusters" in answer_text(env, f"q-{i}")
        for cluster in env.world.clusters.values():
            httpx.delete(f"{cluster.url}/_sim/requests")
        before = counts(env)

        response = client.command("workspaces member-a", user=GUEST, name="q-over")
        assert response.status_code == 200
        said = answer_text(env, "q-over")
        assert "Slow down" in said and re.search(r"Try again in \d+ s", said), said
        assert env.stub.responses("q-over")[0]["response_type"] == "ephemeral"
        time.sleep(0.5)  # anything the refused question might have started would show by now
        assert cluster_reads(env) == 0
        assert counts(env) == before
        # another user has a window of their own; help and cancel are never limited
        client.command("clusters", user=ALICE, name="other-user")
        assert "Clusters" in answer_text(env, "other-user")
        client.command("help", user=GUEST, name="help")
        assert "Slow down" not in answer_text(env, "help")


@pytest.mark.parametrize("env", [LIMITED], indirect=True)
def test_the_migration_request_over_the_limit_stores_no_request(env: Env) -> None:
    with in_process(env) as (client, _bot):
        rid = pending_request(client, env)
        before = counts(env)
        client.command("migrate member-a to host-b keep ns1", name="second")
        said = answer_text(env, "second")
        assert "Slow down" in said and "migration requests" in said, said
        time.sleep(0.5)
        assert counts(env) == before and latest_request_id(env) == rid
        # the requester can still cancel what they asked for
        client.command(f"cancel {rid}", name="cancel")
        wait_state(env, rid, S.CANCELLED)


# ---- the pieces on their own ------------------------------------------------------------------


def test_rate_limiter_counts_allowed_attempts_in_a_sliding_window() -> None:
    now = [0.0]
    limiter = RateLimiter({"query": Limit(2, 10.0)}, clock=lambda: now[0])
    assert limiter.check("query", "U1") == 0 and limiter.check("query", "U1") == 0
    now[0] = 4.0
    assert limiter.check("query", "U1") == pytest.approx(6.0)  # the first leaves at 10
    assert limiter.check("query", "U2") == 0  # per user
    assert limiter.check("request", "U1") == 0  # no limit for this kind
    now[0] = 10.0
    assert limiter.check("query", "U1") == 0  # refusals were not counted


def test_urgent_lane_runs_while_the_query_lane_is_full() -> None:
    lanes = Lanes({Lane.QUERY: 1, Lane.URGENT: 1, Lane.INTAKE: 1, Lane.PREFLIGHT: 1})
    release = threading.Event()
    order: list[str] = []

    def query() -> None:
        release.wait(10)
        order.append("query")

    try:
        for _ in range(5):
            lanes.submit(Lane.QUERY, query)
        done = lanes.submit(Lane.URGENT, lambda: order.append("urgent"))
        done.result(timeout=5)
        assert order == ["urgent"] and lanes.queued(Lane.QUERY) == 5
        release.set()
        assert lanes.wait_idle(10) and order.count("query") == 5
    finally:
        release.set()
        lanes.shutdown()


def test_cluster_reads_wait_for_a_free_slot_within_their_budget(env: Env) -> None:
    """With no slot free, a cluster is reported unread after its time budget, never read."""
    registry = ClusterRegistry.from_kubeconfig(str(env.kubeconfig))
    slots = threading.BoundedSemaphore(1)
    try:
        facts = gather_all(registry, ["host-a", "member-a"], 5.0, slots=slots)
        assert all(f.reachable for f in facts.values())  # one slot: read one after the other
        slots.acquire()
        facts = gather_all(registry, ["host-a"], 0.5, slots=slots)
        assert not facts["host-a"].reachable
        slots.release()
    finally:
        registry.close()
