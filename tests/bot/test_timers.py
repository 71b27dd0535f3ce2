"""Timers without pickles (issue #12, finding 1): the leader's expiry, reminder and
maintenance-window jobs live in memory and are rebuilt from the request rows, so a row an
attacker writes into APScheduler's old job table runs nothing, the Alembic revision drops that
table (SQLite and PostgreSQL), and nothing is lost when the bot is killed and started again.
"""

from __future__ import annotations

import os
import pickle
import time
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
    in_process,
    latest_request_id,
    message_ts,
    wait_for,
    wait_state,
)
from sqlalchemy import create_engine, inspect, text

from bot import db
from bot.states import RequestState as S


class _Payload:
    """What an attacker pickles: unpickling it runs a shell command."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def _plant_pickled_job(url: str, marker: Path) -> None:
    """Create APScheduler 3.x's job table (as its SQLAlchemyJobStore does) with one due job."""
    engine = create_engine(db.normalize_url(url))
    blob = pickle.dumps(_Payload(marker))
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "CREATE TABLE IF NOT EXISTS apscheduler_jobs (id VARCHAR(191) PRIMARY KEY, "
                    "next_run_time FLOAT, job_state BYTEA)"
                    if engine.dialect.name == "postgresql"
                    else "CREATE TABLE IF NOT EXISTS apscheduler_jobs (id VARCHAR(191) PRIMARY "
                    "KEY, next_run_time FLOAT, job_state BLOB)"
                )
            )
            conn.execute(
                text("INSERT INTO apscheduler_jobs VALUES ('evil', :t, :s)"),
                {"t": time.time() - 5, "s": blob},
            )
    finally:
        engine.dispose()


def _tables(url: str) -> list[str]:
    engine = create_engine(db.normalize_url(url))
    try:
        return inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_the_revision_drops_the_pickled_job_table(db_url: str, tmp_path: Path) -> None:
    db.upgrade(db_url, "0001")
    _plant_pickled_job(db_url, tmp_path / "pwned")
    assert "apscheduler_jobs" in _tables(db_url)
    db.upgrade(db_url)
    assert "apscheduler_jobs" not in _tables(db_url)
    assert not (tmp_path / "pwned").exists()


def test_a_pickled_job_row_runs_nothing_and_timers_still_fire(db_url: str, tmp_path: Path) -> None:
    """The attack: with the bot running (and leading), write a due pickled job into the
    database. Nothing runs it; the request's own timers (reminder, expiry) still fire."""
    marker = tmp_path / "pwned"
    with (
        environment(tmp_path, db_url, KSMC_APPROVAL_TTL="6s") as env,
        in_process(env) as (
            client,
            _bot,
        ),
    ):
        _plant_pickled_job(db_url, marker)
        client.command("migrate member-a to host-b keep ns1,ns2", user=ALICE)
        rid = str(wait_for(lambda: latest_request_id(env), 15, "the request row"))
        wait_state(env, rid, S.PENDING, timeout=30)
        ts = wait_for(lambda: message_ts(env, rid), 10, "the request message")
        wait_for(
            lambda: any(BOB in str(m.blocks) + m.text for m in env.stub.thread(CHANNEL, ts)),
            15,
            "the reminder in the thread",
        )
        wait_state(env, rid, S.EXPIRED, timeout=20)
        time.sleep(1.5)  # more reconcile ticks than the job needed to fall due
    assert not marker.exists(), "the pickled job ran"
    actions = audit_actions(env, rid)
    assert actions.count("request.reminded") == 1 and actions.count("request.expired") == 1


@pytest.fixture
def sqlite_env(tmp_path: Path) -> Iterator[Env]:
    with environment(tmp_path, f"sqlite:///{tmp_path / 'ksmc.db'}", KSMC_APPROVAL_TTL="12s") as e:
        yield e


def test_reminder_and_expiry_survive_sigkill_from_the_rows(sqlite_env: Env, tmp_path: Path) -> None:
    """Killed before the reminder was due (half of the 12 s TTL) and started again after it: the
    new leader rebuilds both timers from the row alone and fires each exactly once."""
    env = sqlite_env
    proc = BotProcess(env, tmp_path / "bot.log")
    client = proc.start()
    try:
        client.command("migrate member-a to host-b keep ns1,ns2", user=ALICE)
        rid = str(wait_for(lambda: latest_request_id(env), 15, "the request row"))
        wait_state(env, rid, S.PENDING, timeout=30)
        pending_at = time.monotonic()
        proc.kill()
        assert "request.reminded" not in audit_actions(env, rid)
        time.sleep(max(0.0, 6.5 - (time.monotonic() - pending_at)))
        proc.start()
        wait_for(lambda: "request.reminded" in audit_actions(env, rid), 10, "the reminder")
        wait_state(env, rid, S.EXPIRED, timeout=20)
    finally:
        proc.stop()
    actions = audit_actions(env, rid)
    assert actions.count("request.reminded") == 1 and actions.count("request.expired") == 1
