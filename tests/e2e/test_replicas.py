"""Several replicas on one PostgreSQL: every replica serves Slack, exactly one (the leader, by
advisory lock) runs the scheduler and the executor. SIGKILL the leader in the middle of an
execution: another replica takes over within a bounded time, resumes, and every cluster write
happens once; an expiry fires once however many replicas run."""

from __future__ import annotations

import os
import re
import secrets
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from bot_harness import (
    ALICE,
    BOB,
    BotProcess,
    Client,
    Env,
    audit_actions,
    environment,
    latest_request_id,
    state,
    wait_for,
    wait_state,
)
from conftest import VALIDATION_SUFFIX
from sqlalchemy import create_engine

from bot.db import normalize_url
from bot.states import RequestState as S
from k8s.sim.resources import CLUSTERS

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_url() -> Iterator[str]:
    server = os.environ.get("KSMC_TEST_PG_URL")
    if not server:
        pytest.skip("KSMC_TEST_PG_URL is not set: run under scripts/with-postgres.sh")
    name = f"ksmc_replicas_{secrets.token_hex(4)}"
    admin = create_engine(normalize_url(server), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield normalize_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def env(tmp_path: Path, pg_url: str) -> Iterator[Env]:
    with environment(tmp_path, pg_url) as e:
        yield e


def is_leader(client: Client) -> bool:
    try:
        text = client.get("/metrics").text
    except httpx.HTTPError:
        return False
    # prometheus_client writes floats ("ksmc_leader 1.0"): read the value, not the spelling
    return re.search(r"^ksmc_leader 1(\.0)?$", text, re.MULTILINE) is not None


def start_replicas(env: Env, tmp_path: Path, n: int) -> list[tuple[BotProcess, Client]]:
    out = []
    for i in range(n):
        proc = BotProcess(env, tmp_path / f"replica-{i}.log")
        out.append((proc, proc.start()))
    return out


def test_leader_killed_mid_execution_another_takes_over(env: Env, tmp_path: Path) -> None:
    host_b = env.world.clusters["host-b"]
    host_b.add_fault({"method": "GET", "path": "/clusters/member-a$", "delay": 0.3})
    replicas = start_replicas(env, tmp_path, 3)
    try:
        wait_for(lambda: sum(is_leader(c) for _, c in replicas) == 1, 15, "one leader")
        leader = next(i for i, (_, c) in enumerate(replicas) if is_leader(c))
        others = [i for i in range(3) if i != leader]
        # a request through a standby, approved through the other standby
        replicas[others[0]][1].command("migrate member-a to host-b keep ns1,ns2", user=ALICE)
        rid = str(wait_for(lambda: latest_request_id(env), 15, "the request"))
        wait_state(env, rid, S.PENDING)
        with env.world.lock:
            for c in env.world.clusters.values():
                c.requests.clear()
        replicas[others[1]][1].press("ksmc_approve", rid, BOB)
        wait_for(lambda: audit_actions(env, rid).count("step.started") >= 5, 30, "the join step")
        killed_at = time.monotonic()
        replicas[leader][0].kill()
        wait_for(lambda: sum(is_leader(replicas[i][1]) for i in others) == 1, 15, "a new leader")
        takeover = time.monotonic() - killed_at
        wait_state(env, rid, S.SUCCEEDED, timeout=60)
    finally:
        for proc, _ in replicas:
            proc.stop()
    assert takeover < 15
    with env.world.lock:
        assert host_b.store.peek(CLUSTERS, "", "member-a") is not None
        writes = Counter(
            (c.name, r.method, r.path)
            for c in env.world.clusters.values()
            for r in c.requests
            if r.method in ("POST", "PATCH", "PUT", "DELETE")
            and r.status < 400
            and not r.path.endswith(VALIDATION_SUFFIX)  # a question to host-b, not a write
        )
    repeated = {k: n for k, n in writes.items() if n > (2 if k[1] == "PATCH" else 1)}
    assert repeated == {}, f"writes repeated across the takeover: {repeated}"
    assert writes[("host-b", "POST", "/apis/cluster.kubesphere.io/v1alpha1/clusters")] == 1
    assert audit_actions(env, rid).count("execution.succeeded") == 1


def test_expiry_fires_once_with_three_replicas(env: Env, tmp_path: Path) -> None:
    env.extra["KSMC_APPROVAL_TTL"] = "3s"
    replicas = start_replicas(env, tmp_path, 3)
    try:
        replicas[1][1].command("migrate member-a to host-b keep ns1,ns2", user=ALICE)
        rid = str(wait_for(lambda: latest_request_id(env), 15, "the request"))
        wait_state(env, rid, S.PENDING)
        wait_state(env, rid, S.EXPIRED, timeout=20)
        time.sleep(2)  # give any duplicate job a chance to fire
    finally:
        for proc, _ in replicas:
            proc.stop()
    assert state(env, rid) is S.EXPIRED
    assert audit_actions(env, rid).count("request.expired") == 1
