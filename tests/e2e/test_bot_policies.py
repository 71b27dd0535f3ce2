"""The bot's policies end to end: several required approvals, the half-TTL reminder, a
maintenance window (`at`), Slack rate limits honoured, the audit CLI, and start-up refusing a
bad setting with one clear line."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from bot_harness import (
    ALICE,
    BOB,
    CHANNEL,
    DAVE,
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

from bot.audit import Actor
from bot.db import utcnow
from bot.states import RequestState as S
from k8s.spec import MigrationSpec


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    with environment(tmp_path, f"sqlite:///{tmp_path / 'ksmc.db'}") as e:
        yield e


def _submit(client: Any, env: Env) -> str:
    client.command("migrate member-a to host-b keep ns1,ns2", user=ALICE)
    rid = str(wait_for(lambda: latest_request_id(env), 15, "the request"))
    wait_state(env, rid, S.PENDING)
    return rid


def test_two_required_approvals_need_two_people(env: Env) -> None:
    env.extra["KSMC_REQUIRED_APPROVALS"] = "2"
    with in_process(env) as (client, _bot):
        rid = _submit(client, env)
        client.press("ksmc_approve", rid, BOB)
        wait_for(lambda: "approval.added" in audit_actions(env, rid), 10, "first approval")
        assert state(env, rid) is S.PENDING
        _r, hook = client.press("ksmc_approve", rid, BOB)
        wait_for(lambda: env.stub.responses(hook), 10, "the duplicate refusal")
        assert state(env, rid) is S.PENDING
        client.press("ksmc_approve", rid, DAVE)
        wait_state(env, rid, S.SUCCEEDED, timeout=60)
    assert audit_actions(env, rid).count("request.approved") == 1


def test_reminder_halfway_through_the_ttl_then_expiry(env: Env) -> None:
    env.extra["KSMC_APPROVAL_TTL"] = "4s"
    with in_process(env) as (client, _bot):
        rid = _submit(client, env)
        ts = wait_for(lambda: message_ts(env, rid), 10, "the message")
        wait_for(
            lambda: any(BOB in str(m.blocks) + m.text for m in env.stub.thread(CHANNEL, ts)),
            10,
            "a reminder mentioning the approvers in the thread",
        )
        wait_state(env, rid, S.EXPIRED, timeout=15)
    assert audit_actions(env, rid).count("request.reminded") == 1


def test_maintenance_window_waits_then_runs(env: Env) -> None:
    with in_process(env) as (_client, bot):
        service = bot.service
        answer = service.submit(
            MigrationSpec("member-a", "host-b", keep=("ns1", "ns2")),
            text="migrate member-a to host-b keep ns1,ns2 at (soon)",
            team="T0TEAM",
            channel=CHANNEL,
            user=Actor(ALICE, "alice"),
            run_at=utcnow() + timedelta(seconds=4),
            dry_run=False,
        )
        rid = str(answer.request_id)
        service.run_preflight(rid)
        assert state(env, rid) is S.PENDING
        assert service.approve(rid, BOB, "T0TEAM", CHANNEL).ok
        wait_state(env, rid, S.SCHEDULED, timeout=10)
        assert state(env, rid) is S.SCHEDULED
        wait_state(env, rid, S.SUCCEEDED, timeout=60)
    actions = audit_actions(env, rid)
    assert actions.index("request.scheduled") < actions.index("execution.started")


def test_slack_rate_limits_are_honoured(env: Env) -> None:
    with in_process(env) as (client, _bot):
        env.stub.rate_limit("chat.update", times=2, retry_after=1)
        rid = _submit(client, env)
        client.press("ksmc_approve", rid, BOB)
        wait_state(env, rid, S.SUCCEEDED, timeout=60)
        ts = message_ts(env, rid)
        assert ts is not None

        def final_shown() -> bool:
            message = env.stub.message(CHANNEL, ts)
            return message is not None and "succeeded" in (message.text + str(message.blocks))

        wait_for(final_shown, 15, "the final state despite 429s")
    assert any(c.status == 429 for c in env.stub.calls("chat.update"))
    assert env.stub.violations == []


def test_audit_cli_verifies_and_exports(env: Env) -> None:
    with in_process(env) as (client, _bot):
        rid = _submit(client, env)
        client.press("ksmc_reject", rid, BOB)
        wait_state(env, rid, S.REJECTED)
    run = [sys.executable, "-m", "bot.cli", "audit"]
    ok = subprocess.run(
        [*run, "verify", "--database-url", env.database_url], capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stderr
    assert "audit log OK" in ok.stdout
    out = subprocess.run(
        [*run, "export", "--database-url", env.database_url, "--format", "jsonl"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0 and "request.rejected" in out.stdout
    import sqlite3

    db_path = env.database_url.removeprefix("sqlite:///")
    conn = sqlite3.connect(db_path)
    triggers = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'")]
    for name in triggers:
        conn.execute(f'DROP TRIGGER "{name}"')
    conn.execute("UPDATE audit_events SET details = '{\"forged\":true}' WHERE id = 3")
    conn.commit()
    conn.close()
    bad = subprocess.run(
        [*run, "verify", "--database-url", env.database_url], capture_output=True, text=True
    )
    assert bad.returncode == 1
    assert "event 3" in bad.stderr


def test_a_missing_setting_stops_startup_with_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "serve"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "SLACK_SIGNING_SECRET": "x"},
        timeout=60,
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == ["ksmc-bot: SLACK_BOT_TOKEN is required but not set"]
