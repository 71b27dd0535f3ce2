"""Timers without pickles (issue #12, finding 1): the leader's expiry, reminder and
maintenance-window jobs live in memory and are rebuilt from the request rows, so a row an
attacker writes into APScheduler's old job table runs nothing, the Alembic revision drops that
table (SQLite and PostgreSQL), and nothing is lost when the bot is killed and started again.
"""

from __future__ import annotations

import logging
import os
import pickle
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

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
    state,
    wait_for,
    wait_state,
)
from slackstub import TEAM_ID
from sqlalchemy import create_engine, inspect, text

from bot import db, store
from bot.audit import Actor
from bot.db import utcnow
from bot.states import RequestState as S
from k8s.spec import MigrationSpec


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


def _received(bot: Any, minutes_ago: float) -> str:
    """A stored request waiting for its preflight, last changed `minutes_ago`."""
    with bot.ctx.service.sessions.begin() as session:
        row = store.create_request(
            session,
            actor=Actor(ALICE, "alice"),
            command_text="migrate member-a to host-b keep ns1,ns2",
            command_json=MigrationSpec("member-a", "host-b", keep=("ns1", "ns2")).to_json(),
            team_id=TEAM_ID,
            channel_id=CHANNEL,
            requester_id=ALICE,
            requester_name="alice",
            expires_at=utcnow() + timedelta(hours=1),
            member="member-a",
            target_host="host-b",
        )
        row.updated_at = utcnow() - timedelta(minutes=minutes_ago)
        return str(row.id)


def test_preflights_queued_behind_a_long_queue_are_not_taken_for_abandoned(
    sqlite_env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    """Behind a long preflight queue a request waits in `received` for minutes. The leader's
    reconcile takes such a request for one a dead replica left behind only when this replica
    does not have it queued: it used to run the preflight itself, in its timer thread, and
    then the lane's own turn (or the reconcile, whichever came second) failed with an ERROR
    (the full soak logged 271). A preflight whose request another replica already checked is
    skipped without an error."""
    env = sqlite_env
    with in_process(env) as (_client, bot), caplog.at_level(logging.INFO):
        service = bot.ctx.service
        queued = _received(bot, minutes_ago=3)
        work = service.queue_preflight(queued)  # in the lane's queue, not started
        abandoned = _received(bot, minutes_ago=3)  # nobody has it queued: picked up
        elsewhere = _received(bot, minutes_ago=0)
        late = service.queue_preflight(elsewhere)
        service.run_preflight(elsewhere)  # as another replica's lane would
        wait_state(env, abandoned, S.PENDING, timeout=20)
        time.sleep(1.5)  # more reconcile ticks
        assert state(env, queued) is S.RECEIVED
        work()  # its turn in the lane
        late()
        assert state(env, queued) is S.PENDING
        assert state(env, elsewhere) is S.PENDING
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]
    assert f"no preflight for {elsewhere}: it is pending now" in caplog.text
    for rid in (queued, abandoned, elsewhere):
        assert audit_actions(env, rid).count("preflight.started") == 1
