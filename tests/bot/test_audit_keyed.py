"""The keyed audit chain and its anchors (issue #12, finding 3), on SQLite and PostgreSQL.

Attacks with write access to the database: rewrite history and recompute every hash, insert an
event with a well-formed hash, cut the newest events off. Without KSMC_AUDIT_KEY the first two
fail `audit verify`; the third is caught by a published anchor; the CLI says which checks ran.
On PostgreSQL the bot's runtime role owns no table, so it cannot drop the append-only triggers.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from bot import audit, db
from bot.db import AuditEvent

KEY = b"0123456789abcdef0123456789abcdef"


@pytest.fixture(autouse=True)
def keyed() -> object:
    audit.set_key(KEY)
    yield None
    audit.set_key(None)


def _append(sessions: sessionmaker[Session], n: int) -> None:
    for i in range(n):
        with sessions() as session, session.begin():
            audit.append(
                session,
                action=f"test.{i}",
                actor_id="U0ALICE",
                actor_name="alice",
                team_id="T0",
                channel_id="C0",
                request_id="r1",
                details={"i": i},
            )


def _unprotect(session: Session) -> None:
    """What the table owner can do: drop the append-only triggers."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("DROP TRIGGER audit_events_append_only ON audit_events"))
        session.execute(text("DROP TRIGGER audit_events_no_truncate ON audit_events"))
    else:
        session.execute(text("DROP TRIGGER audit_events_no_update"))
        session.execute(text("DROP TRIGGER audit_events_no_delete"))


def test_history_rewritten_and_rehashed_without_the_key_fails(
    db_sessions: sessionmaker[Session],
) -> None:
    _append(db_sessions, 5)
    with db_sessions() as session, session.begin():
        _unprotect(session)
        rows = list(session.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars())
        rows[1].details = audit.canonical_json({"i": "rewritten"})
        prev = rows[0].hash
        for row in rows[1:]:  # recompute the whole chain as an attacker can: unkeyed, or guessed
            row.prev_hash = prev
            row.hash = str(audit.event_hash(row, b"a guessed key, not the real one!"))
            prev = row.hash
    with db_sessions() as session:
        result = audit.verify(session)
    assert not result.ok and result.first_bad_id == rows[1].id


def test_inserted_event_with_a_valid_unkeyed_hash_is_a_forgery(
    db_sessions: sessionmaker[Session],
) -> None:
    _append(db_sessions, 3)
    with db_sessions() as session, session.begin():
        last = session.execute(select(AuditEvent).order_by(AuditEvent.id.desc())).scalars().first()
        assert last is not None
        forged = AuditEvent(
            at=datetime.now(UTC),
            team_id="T0",
            channel_id="C0",
            actor_id="U0BOB",
            actor_name="bob",
            action="request.approved",
            request_id="r1",
            details="{}",
            prev_hash=last.hash,
            scheme=audit.LEGACY,
        )
        forged.hash = str(audit.event_hash(forged))
        session.add(forged)
    with db_sessions() as session:
        result = audit.verify(session)
    assert not result.ok and "forged" in result.reason


def test_unkeyed_history_is_sealed_by_the_first_keyed_event(
    db_sessions: sessionmaker[Session],
) -> None:
    audit.set_key(None)
    _append(db_sessions, 3)  # written before the key was configured
    audit.set_key(KEY)
    _append(db_sessions, 2)
    with db_sessions() as session:
        result = audit.verify(session)
        assert result.ok and result.keyed_from == 4 and "sealed" in result.reason
    with db_sessions() as session, session.begin():
        _unprotect(session)
        rows = list(session.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars())
        rows[0].details = audit.canonical_json({"i": "rewritten"})
        prev = audit.GENESIS_HASH
        for row in rows[:3]:  # the unkeyed prefix can be rehashed, but the seal breaks
            row.prev_hash = prev
            row.hash = str(audit.event_hash(row))
            prev = row.hash
    with db_sessions() as session:
        result = audit.verify(session)
    assert not result.ok and result.first_bad_id == 4


def _cli(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KSMC_AUDIT_KEY": KEY.decode()}
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "audit", *args, "--database-url", url],
        capture_output=True,
        text=True,
        env=env,
    )


def test_truncation_is_caught_by_an_anchor_and_the_cli_says_which(
    migrated_db_url: str, tmp_path: Path
) -> None:
    engine = db.make_engine(migrated_db_url)
    sessions = db.session_factory(engine)
    try:
        _append(sessions, 6)
        with sessions() as session:
            anchors = tmp_path / "anchors.log"
            event_id, mac = audit.head(session)
            anchors.write_text(
                "INFO ksmc.app: " + audit.anchor_line(event_id, mac, datetime.now(UTC))
            )
        ok = _cli("verify", "--anchors", str(anchors), url=migrated_db_url)
        assert ok.returncode == 0 and "chain and anchors" in ok.stdout, ok.stderr
        with sessions() as session, session.begin():
            _unprotect(session)
            session.execute(text("DELETE FROM audit_events WHERE id > 4"))
    finally:
        engine.dispose()
    chain_only = _cli("verify", url=migrated_db_url)
    assert chain_only.returncode == 0 and "anchors: not checked" in chain_only.stdout
    caught = _cli("verify", "--anchors", str(anchors), url=migrated_db_url)
    assert caught.returncode == 1 and "newest events were removed" in caught.stderr


@pytest.mark.postgres
def test_the_runtime_role_cannot_unprotect_or_rewrite_the_log(tmp_path: Path) -> None:
    server = os.environ.get("KSMC_TEST_PG_URL")
    if not server:
        pytest.skip("KSMC_TEST_PG_URL is not set: run under scripts/with-postgres.sh")
    name = f"ksmc_roles_{os.getpid()}"
    admin = create_engine(db.normalize_url(server), isolation_level="AUTOCOMMIT")
    owner_url = db.normalize_url(server).set(database=name)
    bot_url = owner_url.set(username="ksmc_runtime", password="runtime-pw")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        conn.exec_driver_sql(
            "DO $$ BEGIN CREATE ROLE ksmc_runtime LOGIN PASSWORD 'runtime-pw'; "
            "EXCEPTION WHEN duplicate_object THEN NULL; END $$"
        )
    try:
        db.upgrade(owner_url)
        db.grant_runtime(owner_url, "ksmc_runtime")
        engine = db.make_engine(bot_url)
        sessions = db.session_factory(engine)
        try:
            _append(sessions, 2)  # the bot appends as usual
            db.upgrade(bot_url)  # start-up's upgrade is a no-op at head, allowed
            for attack in (
                "DROP TRIGGER audit_events_append_only ON audit_events",
                "ALTER TABLE audit_events DISABLE TRIGGER ALL",
                "UPDATE audit_events SET details = '{}'",
                "DELETE FROM audit_events",
                "TRUNCATE audit_events",
            ):
                with pytest.raises(ProgrammingError), sessions() as session, session.begin():
                    session.execute(text(attack))
            with sessions() as session:
                assert audit.verify(session).ok
        finally:
            engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.exec_driver_sql("DROP ROLE IF EXISTS ksmc_runtime")
        admin.dispose()
