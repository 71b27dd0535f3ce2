"""End to end through the bot's real HTTP endpoint: signed slash commands and button presses,
the Slack stand-in receiving what the bot posts, the simulated fleet changing, and the audit log.

Each test runs on SQLite and on the PostgreSQL server `make test` starts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bot_harness import (
    ALICE,
    BOB,
    CAROL,
    CHANNEL,
    DAVE,
    GONE,
    GUEST,
    ROBOT,
    SECRET,
    Env,
    audit_actions,
    environment,
    hook_of,
    in_process,
    latest_request_id,
    state,
    wait_for,
    wait_state,
)
from slackstub import sign, slash_command_body

from bot import audit, db
from bot.states import RequestState as S
from k8s.sim.resources import CLUSTERS, NAMESPACES, WORKSPACES
from k8s.sim.store import meta


@pytest.fixture
def env(tmp_path: Path, migrated_db_url: str) -> Iterator[Env]:
    with environment(tmp_path, migrated_db_url) as e:
        yield e


@pytest.fixture
def bot(env: Env) -> Iterator[Any]:
    with in_process(env) as (client, _app):
        yield client


def buttons(env: Env, request_id: str) -> list[str]:
    ts = wait_for(lambda: _ts(env, request_id), 10, "the request's message")
    message = env.stub.message(CHANNEL, ts)
    assert message is not None
    return [
        el["action_id"]
        for block in message.blocks
        if block.get("type") == "actions"
        for el in block.get("elements", [])
    ]


def _ts(env: Env, request_id: str) -> str | None:
    from bot_harness import message_ts

    return message_ts(env, request_id)


def message_text(env: Env, request_id: str) -> str:
    ts = _ts(env, request_id)
    message = env.stub.message(CHANNEL, ts) if ts else None
    return str(message.blocks) + (message.text if message else "") if message else ""


def submit(bot: Any, env: Env, text: str, user: str = ALICE) -> str:
    before = latest_request_id(env)
    started = time.monotonic()
    response = bot.command(text, user=user)
    assert response.status_code == 200
    assert time.monotonic() - started < 3.0, "Slack needs the ack within 3 seconds"
    return str(
        wait_for(lambda: (rid := latest_request_id(env)) != before and rid, 10, "the request row")
    )


def ephemeral_texts(env: Env, hook: str) -> str:
    return " ".join(
        str(r.get("text", "")) + str(r.get("blocks", "")) for r in env.stub.responses(hook)
    )


def test_happy_path_migrates_member_and_audits_everything(bot: Any, env: Env) -> None:
    rid = submit(bot, env, "migrate member-a to host-b keep ns1,ns2")
    wait_state(env, rid, S.PENDING)
    wait_for(lambda: "ksmc_approve" in buttons(env, rid), 10, "the Approve button")
    assert "ns1" in message_text(env, rid)
    response, _ = bot.press("ksmc_approve", rid, BOB)
    assert response.status_code == 200
    wait_state(env, rid, S.SUCCEEDED, timeout=60)

    world = env.world
    with world.lock:
        host_b = world.clusters["host-b"].store.peek(CLUSTERS, "", "member-a")
        host_a = world.clusters["host-a"].store.peek(CLUSTERS, "", "member-a")
        member = world.clusters["member-a"].store
        ws = member.peek(WORKSPACES, "", "team-x")
        ns1 = member.peek(NAMESPACES, "", "ns1")
        ns3 = member.peek(NAMESPACES, "", "ns3")
    assert host_b is not None and host_a is None
    assert ws is not None and ns1 is not None and ns3 is not None
    assert meta(ns1)["labels"]["kubesphere.io/workspace"] == "team-x"
    assert any(r["uid"] == meta(ws)["uid"] for r in meta(ns1)["ownerReferences"])

    actions = audit_actions(env, rid)
    for expected in (
        "request.received",
        "preflight.passed",
        "request.approved",
        "execution.started",
        "step.started",
        "step.finished",
        "execution.succeeded",
    ):
        assert expected in actions
    engine = db.make_engine(env.database_url)
    with db.session_factory(engine)() as session:
        assert audit.verify(session).ok
    engine.dispose()
    ts = _ts(env, rid)
    assert ts is not None
    wait_for(
        lambda: any(
            f"<@{ALICE}>" in str(m.blocks) + m.text and f"<@{BOB}>" in str(m.blocks) + m.text
            for m in env.stub.thread(CHANNEL, ts)
        ),
        10,
        "the final thread reply mentioning requester and approver",
    )
    wait_for(lambda: "ksmc_approve" not in buttons(env, rid), 10, "buttons to go")
    assert env.stub.violations == []


@pytest.mark.parametrize(
    ("user", "reason"),
    [
        (ALICE, "own request"),
        (CAROL, "not one of the approvers"),
        (GUEST, "guests"),
        (ROBOT, "bots"),
        (GONE, "deactivated"),
    ],
)
def test_approval_refused_for_the_wrong_people(bot: Any, env: Env, user: str, reason: str) -> None:
    rid = submit(bot, env, "migrate member-a to host-b keep ns1,ns2")
    wait_state(env, rid, S.PENDING)
    _response, hook = bot.press("ksmc_approve", rid, user)
    wait_for(lambda: env.stub.responses(hook), 10, "the refusal")
    assert reason in ephemeral_texts(env, hook)
    assert env.stub.responses(hook)[0].get("response_type") == "ephemeral"
    assert state(env, rid) is S.PENDING
    assert "approval.refused" in audit_actions(env, rid)


def test_double_approval_runs_exactly_once(bot: Any, env: Env) -> None:
    rid = submit(bot, env, "migrate member-a to host-b keep ns1,ns2")
    wait_state(env, rid, S.PENDING)
    threads = [
        threading.Thread(target=bot.press, args=("ksmc_approve", rid, who))
        for who in (BOB, DAVE, BOB)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wait_state(env, rid, S.SUCCEEDED, timeout=60)
    actions = audit_actions(env, rid)
    assert actions.count("execution.started") == 1
    assert actions.count("request.approved") == 1


def test_reject_and_cancel_end_pending_requests(bot: Any, env: Env) -> None:
    rid = submit(bot, env, "migrate member-a to host-b keep ns1,ns2")
    wait_state(env, rid, S.PENDING)
    bot.press("ksmc_reject", rid, BOB)
    wait_state(env, rid, S.REJECTED)
    wait_for(lambda: "ksmc_approve" not in buttons(env, rid), 10, "buttons to disappear")

    rid2 = submit(bot, env, "migrate member-a to host-b keep ns1,ns2")
    wait_state(env, rid2, S.PENDING)
    response = bot.command(f"cancel {rid2}", user=CAROL)
    wait_for(lambda: env.stub.responses(hook_of(response)), 10, "cancel answer")
    assert state(env, rid2) is S.PENDING  # a bystander cannot cancel
    bot.command(f"cancel {rid2}", user=ALICE)
    wait_state(env, rid2, S.CANCELLED)
    with env.world.lock:
        assert env.world.clusters["host-a"].store.peek(CLUSTERS, "", "member-a") is not None


def test_blocked_request_has_no_buttons(bot: Any, env: Env) -> None:
    rid = submit(bot, env, "migrate member-b to host-a keep qa-env")
    wait_state(env, rid, S.BLOCKED)
    wait_for(lambda: "jwt" in message_text(env, rid).lower(), 10, "the jwt blocker")
    assert buttons(env, rid) == []
    assert "sync-jwt" in message_text(env, rid)


def test_usage_error_is_ephemeral_and_stores_nothing(bot: Any, env: Env) -> None:
    response = bot.command("migrate membr-a to host-b keep ns1")
    assert response.status_code == 200
    wait_for(lambda: env.stub.responses(hook_of(response)), 10, "usage error")
    text = ephemeral_texts(env, hook_of(response))
    assert "did you mean member-a" in text
    assert latest_request_id(env) is None
    assert "command.usage_error" in audit_actions(env)


def test_bad_signatures_are_refused_and_change_nothing(bot: Any, env: Env) -> None:
    url = env.stub.response_url("x", channel=CHANNEL, user=ALICE)
    body = slash_command_body(
        "migrate member-a to host-b keep ns1,ns2", ALICE, CHANNEL, "T0TEAM", url
    )
    good = sign(SECRET, body)
    cases = [
        sign("wrong-secret", body),
        sign(SECRET, body, timestamp=int(time.time()) - 600),
        {},
        {**good, "X-Slack-Signature": good["X-Slack-Signature"][:-2] + "00"},
    ]
    for headers in cases:
        assert bot.post(body, headers).status_code == 401
    assert bot.post(body + b"&text=tampered", good).status_code == 401
    assert latest_request_id(env) is None
    assert audit_actions(env) == []


def test_failed_step_offers_retry_that_resumes(bot: Any, env: Env) -> None:
    host_b = env.world.clusters["host-b"]
    host_b.add_fault(
        {
            "method": "POST",
            "path": "/clusters$",
            "status": 403,
            "message": "clusters.cluster.kubesphere.io is forbidden",
        }
    )
    rid = submit(bot, env, "migrate member-a to host-b keep ns1,ns2")
    wait_state(env, rid, S.PENDING)
    bot.press("ksmc_approve", rid, BOB)
    wait_state(env, rid, S.FAILED, timeout=60)
    wait_for(lambda: "ksmc_retry" in buttons(env, rid), 10, "the Retry button")
    assert "step.failed" in audit_actions(env, rid)
    _r, hook = bot.press("ksmc_retry", rid, CAROL)
    wait_for(lambda: env.stub.responses(hook), 10, "retry refusal")
    assert state(env, rid) is S.FAILED
    with env.world.lock:
        host_b.faults.clear()
    bot.press("ksmc_retry", rid, BOB)
    wait_state(env, rid, S.SUCCEEDED, timeout=60)
    with env.world.lock:
        assert host_b.store.peek(CLUSTERS, "", "member-a") is not None


def test_health_readiness_and_metrics(bot: Any, env: Env) -> None:
    assert bot.get("/healthz").status_code == 200
    ready = bot.get("/readyz")
    assert ready.status_code == 200 and ready.json()["ready"] is True
    bot.command("help")
    wait_for(lambda: "ksmc_slack_requests_total" in bot.get("/metrics").text, 10, "metrics")
