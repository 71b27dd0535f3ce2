"""Nothing is lost when the bot dies: `ksmc-bot serve` is SIGKILLed while a request is pending,
while approval is about to expire, and in the middle of an execution; a new process finishes
the work, and no cluster write is repeated."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from bot_harness import (
    ALICE,
    BOB,
    CHANNEL,
    BotProcess,
    Env,
    audit_actions,
    environment,
    latest_request_id,
    message_ts,
    state,
    wait_for,
    wait_state,
)
from conftest import VALIDATION_SUFFIX

from bot.states import RequestState as S
from k8s.sim.resources import CLUSTERS


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    with environment(tmp_path, f"sqlite:///{tmp_path / 'ksmc.db'}") as e:
        yield e


def _submit(client: object, env: Env) -> str:
    client.command("migrate member-a to host-b keep ns1,ns2", user=ALICE)  # type: ignore[attr-defined]
    rid = wait_for(lambda: latest_request_id(env), 15, "the request row")
    wait_state(env, str(rid), S.PENDING)
    return str(rid)


def test_pending_request_survives_sigkill(env: Env, tmp_path: Path) -> None:
    proc = BotProcess(env, tmp_path / "bot.log")
    client = proc.start()
    try:
        rid = _submit(client, env)
        proc.kill()
        client = proc.start()
        assert state(env, rid) is S.PENDING
        client.press("ksmc_approve", rid, BOB)
        wait_state(env, rid, S.SUCCEEDED, timeout=60)
    finally:
        proc.stop()


def test_expiry_fires_after_restart(env: Env, tmp_path: Path) -> None:
    env.extra["KSMC_APPROVAL_TTL"] = "3s"
    proc = BotProcess(env, tmp_path / "bot.log")
    client = proc.start()
    try:
        rid = _submit(client, env)
        proc.kill()
        time.sleep(3.5)
        assert state(env, rid) is S.PENDING
        proc.start()
        wait_state(env, rid, S.EXPIRED, timeout=20)
        ts = message_ts(env, rid)
        assert ts is not None

        def no_buttons() -> bool:
            message = env.stub.message(CHANNEL, ts)
            return message is not None and not any(
                b.get("type") == "actions" for b in message.blocks
            )

        wait_for(no_buttons, 10, "the expired message without buttons")
        assert audit_actions(env, rid).count("request.expired") == 1
    finally:
        proc.stop()


def test_execution_resumes_after_sigkill_without_repeating_writes(env: Env, tmp_path: Path) -> None:
    member = env.world.clusters["member-a"]
    host_b = env.world.clusters["host-b"]
    # slow the join down so the kill lands in the middle of the execution
    host_b.add_fault({"method": "GET", "path": "/clusters/member-a$", "delay": 0.3})
    proc = BotProcess(env, tmp_path / "bot.log")
    client = proc.start()
    try:
        rid = _submit(client, env)
        with env.world.lock:
            member.requests.clear()
            host_b.requests.clear()
        client.press("ksmc_approve", rid, BOB)
        wait_for(lambda: "step.finished" in audit_actions(env, rid), 30, "a finished step")
        wait_for(lambda: audit_actions(env, rid).count("step.started") >= 5, 30, "the join step")
        proc.kill()
        assert state(env, rid) is S.RUNNING
        proc.start()
        wait_state(env, rid, S.SUCCEEDED, timeout=60)
    finally:
        proc.stop()
    with env.world.lock:
        assert host_b.store.peek(CLUSTERS, "", "member-a") is not None
        writes = Counter(
            (r.method, r.path)
            for c in (member, host_b)
            for r in c.requests
            if r.method in ("POST", "PATCH", "PUT", "DELETE")
            and r.status < 400
            and not r.path.endswith(VALIDATION_SUFFIX)  # a question to host-b, not a write
        )
    # exactly the writes of an uninterrupted run: host-b's credential made once, each namespace
    # unbound once and re-bound once
    assert writes == Counter(
        {
            ("POST", "/api/v1/namespaces/kubesphere-system/serviceaccounts"): 1,
            ("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"): 1,
            ("POST", "/api/v1/namespaces/kubesphere-system/secrets"): 1,
            ("PATCH", "/api/v1/namespaces/ns1"): 2,
            ("PATCH", "/api/v1/namespaces/ns2"): 2,
            ("POST", "/apis/cluster.kubesphere.io/v1alpha1/clusters"): 1,
            ("POST", "/apis/tenant.kubesphere.io/v1alpha2/workspacetemplates"): 1,
        }
    ), f"writes after the restart differ from one clean run: {writes}"
