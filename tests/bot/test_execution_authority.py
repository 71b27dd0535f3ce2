"""The executor's own check of the two-person rule, and buttons bound to what was shown
(issue #12, findings 2 and 7).

Attacks: a database write that sets a pending request to `approved` (alone, and with a forged
approval row and audit event); presses carrying an old version, another plan digest or a bare
id; a Retry pressed by the requester, on an old version, after the clusters changed, or after
the approval TTL. Each asserts what a user notices: the state, the message, the refusal they
are shown and the audit event, and that no cluster was touched.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from bot_harness import (
    ALICE,
    BOB,
    CHANNEL,
    OPS_GROUP,
    Client,
    Env,
    audit_actions,
    current_button_value,
    environment,
    in_process,
    latest_request_id,
    message_ts,
    state,
    wait_for,
    wait_state,
)
from sqlalchemy import select, text

from bot import audit, db
from bot.db import AuditEvent
from bot.states import RequestState as S
from k8s.sim.resources import CLUSTERS

KEY = "k" * 40


def submit(client: Client, env: Env, text_: str = "migrate member-a to host-b keep ns1,ns2") -> str:
    before = latest_request_id(env)
    client.command(text_, user=ALICE)
    rid = wait_for(lambda: (r := latest_request_id(env)) != before and r, 15, "the request")
    wait_state(env, str(rid), S.PENDING, timeout=30)
    return str(rid)


def answer_to(env: Env, hook: str) -> str:
    wait_for(lambda: env.stub.responses(hook), 10, f"an answer on {hook}")
    return " ".join(json.dumps(r) for r in env.stub.responses(hook))


def member_joined_host_b(env: Env) -> bool:
    host_b = env.world.clusters["host-b"]
    with env.world.lock:
        return host_b.store.peek(CLUSTERS, "", "member-a") is not None


def shown(env: Env, ts: str) -> str:
    message = env.stub.message(CHANNEL, ts)
    return "" if message is None else message.text + json.dumps(message.blocks)


def sql(env: Env, statement: str, **params: Any) -> None:
    engine = db.make_engine(env.database_url)
    try:
        with engine.begin() as conn:
            conn.execute(text(statement), params)
    finally:
        engine.dispose()


@pytest.fixture
def bot_env(db_url: str, tmp_path: Path) -> Iterator[tuple[Client, Env]]:
    """A keyed bot where the requester, ALICE, is an approver too (for others' requests)."""
    approvers = f"{BOB},{ALICE},{OPS_GROUP}"
    with (
        environment(tmp_path, db_url, KSMC_AUDIT_KEY=KEY, KSMC_APPROVERS=approvers) as env,
        in_process(env) as (c, _),
    ):
        yield c, env


def test_state_set_to_approved_in_the_database_is_refused_and_audited(
    bot_env: tuple[Client, Env],
) -> None:
    client, env = bot_env
    rid = submit(client, env)
    sql(env, "UPDATE requests SET state = 'approved' WHERE id = :id", id=rid)
    wait_state(env, rid, S.CANCELLED, timeout=15)
    actions = audit_actions(env, rid)
    assert "execution.refused" in actions and "execution.started" not in actions
    ts = message_ts(env, rid)
    assert ts is not None
    wait_for(
        lambda: "refused to run" in shown(env, ts),
        10,
        "the message saying the run was refused",
    )
    assert not member_joined_host_b(env)


def test_forged_approval_row_and_event_are_refused(bot_env: tuple[Client, Env]) -> None:
    """The attacker also adds an approval row for BOB and a chain-linked `request.approved`
    event naming the plan: without KSMC_AUDIT_KEY its MAC cannot be made, so nothing runs and
    `audit verify` names the forged event."""
    client, env = bot_env
    rid = submit(client, env)
    digest = current_button_value(env, rid).split(":")[2]
    engine = db.make_engine(env.database_url)
    try:
        with db.session_factory(engine)() as session, session.begin():
            session.execute(
                text(
                    "INSERT INTO approvals (request_id, approver_id, approver_name, created_at) "
                    "VALUES (:r, :u, 'bob', :t)"
                ),
                {"r": rid, "u": BOB, "t": datetime.now(UTC)},
            )
            last = session.execute(
                select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
            ).scalar_one()
            forged = AuditEvent(
                at=datetime.now(UTC),
                team_id="T0TEAM",
                channel_id=CHANNEL,
                actor_id=BOB,
                actor_name="bob",
                action="request.approved",
                request_id=rid,
                details=audit.canonical_json({"plan": digest, "approvals": 1, "required": 1}),
                prev_hash=last,
                scheme=audit.KEYED,
            )
            forged.hash = str(audit.event_hash(forged, b"attacker-guess" * 3))
            session.add(forged)
        with db.session_factory(engine)() as session:
            forged_id = session.execute(
                select(AuditEvent.id).where(AuditEvent.actor_id == BOB)
            ).scalar_one()
    finally:
        engine.dispose()
    sql(env, "UPDATE requests SET state = 'approved' WHERE id = :id", id=rid)
    wait_state(env, rid, S.CANCELLED, timeout=15)
    assert "execution.started" not in audit_actions(env, rid)
    assert not member_joined_host_b(env)
    engine = db.make_engine(env.database_url)
    try:
        with db.session_factory(engine)() as session:
            result = audit.verify(session, KEY.encode())
    finally:
        engine.dispose()
    assert not result.ok and result.first_bad_id == forged_id


@pytest.mark.parametrize(
    "how", ["old version", "other plan", "bare id"], ids=["version", "plan", "bare"]
)
def test_stale_approve_button_is_refused_with_a_clear_message(
    bot_env: tuple[Client, Env], how: str
) -> None:
    client, env = bot_env
    rid = submit(client, env)
    _rid, version, digest = current_button_value(env, rid).split(":")
    value = {
        "old version": f"{rid}:{int(version) - 1}:{digest}",
        "other plan": f"{rid}:{version}:{'0' * 16}",
        "bare id": rid,
    }[how]
    _r, hook = client.press("ksmc_approve", rid, BOB, value=value)
    assert "out of date" in answer_to(env, hook)
    assert state(env, rid) is S.PENDING
    assert "approval.refused" in audit_actions(env, rid)
    client.press("ksmc_approve", rid, BOB)  # the button of the message as it is now
    wait_state(env, rid, S.SUCCEEDED, timeout=90)


def _failed_midway(client: Client, env: Env) -> str:
    """A migration whose join step is refused by host-b: it fails after writing."""
    env.world.clusters["host-b"].add_fault(
        {"method": "POST", "path": "/clusters$", "status": 403, "message": "forbidden"}
    )
    rid = submit(client, env)
    client.press("ksmc_approve", rid, BOB)
    wait_state(env, rid, S.FAILED, timeout=90)
    assert "step.finished" in audit_actions(env, rid)  # it did write before failing
    return rid


def test_retry_follows_the_two_person_rule_binding_and_world_guard(
    bot_env: tuple[Client, Env],
) -> None:
    client, env = bot_env
    rid = _failed_midway(client, env)
    host_b = env.world.clusters["host-b"]
    with env.world.lock:
        host_b.faults.clear()

    _r, hook = client.press("ksmc_retry", rid, ALICE)  # the requester
    assert "a second person must retry" in answer_to(env, hook)
    _rid, version, digest = current_button_value(env, rid).split(":")
    _r, hook = client.press("ksmc_retry", rid, BOB, value=f"{rid}:{int(version) - 1}:{digest}")
    assert "out of date" in answer_to(env, hook)

    host_b.down()  # the world changes while the request waits
    try:
        _r, hook = client.press("ksmc_retry", rid, BOB)
        assert "clusters changed since it failed" in answer_to(env, hook)
    finally:
        host_b.up()
    assert state(env, rid) is S.FAILED
    assert audit_actions(env, rid).count("retry.refused") == 3
    assert "execution.retried" not in audit_actions(env, rid)

    client.press("ksmc_retry", rid, BOB)  # the world is as it was at the failure again
    wait_state(env, rid, S.SUCCEEDED, timeout=90)


def test_retry_expires_like_an_approval(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ksmc.db'}"
    with environment(tmp_path, url, KSMC_APPROVAL_TTL="20s") as env, in_process(env) as (c, _):
        rid = _failed_midway(c, env)
        failed_at = datetime.now(UTC)
        wait_for(lambda: (datetime.now(UTC) - failed_at).total_seconds() > 21, 30, "the TTL")
        _r, hook = c.press("ksmc_retry", rid, BOB)
        assert "longer ago than KSMC_APPROVAL_TTL" in answer_to(env, hook)
        assert state(env, rid) is S.FAILED
        assert "retry.refused" in audit_actions(env, rid)
