"""The audit log on SQLite and PostgreSQL: the hash chain, tamper detection, redaction, export.

Tampering is done the way an attacker with database access would: plain SQL with the
append-only triggers switched off. Verification must then name the first event that no longer
checks out. Concurrent appends from separate connections must still form one unbroken chain.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from bot import audit
from bot.audit import GENESIS_HASH, REDACTED, redact
from bot.db import AuditEvent
from bot.states import RequestState

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def _append(session: Session, n: int, **overrides: Any) -> AuditEvent:
    fields: dict[str, Any] = {
        "action": "request.approved",
        "actor_id": f"U{n}",
        "actor_name": f"user {n}",
        "team_id": "T1",
        "channel_id": "C1",
        "request_id": "abcd2345",
        "details": {"n": n},
        "at": T0 + timedelta(minutes=n),
    }
    fields.update(overrides)
    return audit.append(session, **fields)


def _fill(sessions: sessionmaker[Session], count: int) -> list[int]:
    with sessions.begin() as session:
        return [_append(session, n).id for n in range(count)]


@contextmanager
def _as_attacker(engine: Engine) -> Iterator[Connection]:
    """A connection on which the append-only triggers do not fire (as the table owner could)."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
            yield conn
            conn.execute(text("ALTER TABLE audit_events ENABLE TRIGGER USER"))
        else:
            conn.execute(text("DROP TRIGGER audit_events_no_update"))
            conn.execute(text("DROP TRIGGER audit_events_no_delete"))
            yield conn


# --- the chain ------------------------------------------------------------------------------


def test_empty_log_verifies(db_sessions: sessionmaker[Session]) -> None:
    with db_sessions() as session:
        assert audit.verify(session) == audit.VerifyResult(True, 0, None, "ok: 0 events")


def test_chain_links_and_verifies(db_sessions: sessionmaker[Session]) -> None:
    ids = _fill(db_sessions, 5)
    assert ids == sorted(ids) and len(set(ids)) == 5
    with db_sessions() as session:
        events = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        assert events[0].prev_hash == GENESIS_HASH
        assert all(b.prev_hash == a.hash for a, b in pairwise(events))
        assert all(e.at.tzinfo is UTC for e in events)
        result = audit.verify(session)
    assert (result.ok, result.checked, result.first_bad_id) == (True, 5, None)
    assert result.last_hash == events[-1].hash


def test_appends_continue_the_chain_across_transactions_and_rollbacks(
    db_sessions: sessionmaker[Session],
) -> None:
    _fill(db_sessions, 2)
    with pytest.raises(RuntimeError), db_sessions.begin() as session:
        _append(session, 99)
        raise RuntimeError("rolled back")
    _fill(db_sessions, 2)
    with db_sessions() as session:
        assert audit.verify(session).checked == 4
        assert audit.verify(session).ok


def test_altered_details_are_detected_at_that_event(
    db_engine: Engine, db_sessions: sessionmaker[Session]
) -> None:
    ids = _fill(db_sessions, 5)
    with _as_attacker(db_engine) as conn:
        conn.execute(
            text("UPDATE audit_events SET details = :d WHERE id = :id"),
            {"d": '{"n":42}', "id": ids[2]},
        )
    with db_sessions() as session:
        result = audit.verify(session)
    assert (result.ok, result.first_bad_id, result.checked) == (False, ids[2], 3)
    assert "altered" in result.reason


def test_altered_actor_is_detected(db_engine: Engine, db_sessions: sessionmaker[Session]) -> None:
    ids = _fill(db_sessions, 3)
    with _as_attacker(db_engine) as conn:
        conn.execute(
            text("UPDATE audit_events SET actor_name = 'someone else' WHERE id = :id"),
            {"id": ids[0]},
        )
    with db_sessions() as session:
        assert audit.verify(session).first_bad_id == ids[0]


def test_rewritten_event_with_a_recomputed_hash_breaks_the_next_link(
    db_engine: Engine, db_sessions: sessionmaker[Session]
) -> None:
    ids = _fill(db_sessions, 4)
    with db_sessions() as session:
        victim = session.get_one(AuditEvent, ids[1])
        session.expunge(victim)
    victim.details = '{"n":1000}'
    forged = audit.event_hash(victim)
    with _as_attacker(db_engine) as conn:
        conn.execute(
            text("UPDATE audit_events SET details = :d, hash = :h WHERE id = :id"),
            {"d": victim.details, "h": forged, "id": ids[1]},
        )
    with db_sessions() as session:
        result = audit.verify(session)
    assert (result.ok, result.first_bad_id) == (False, ids[2])
    assert f"does not follow event {ids[1]}" in result.reason


def test_deleted_event_in_the_middle_is_detected(
    db_engine: Engine, db_sessions: sessionmaker[Session]
) -> None:
    ids = _fill(db_sessions, 5)
    with _as_attacker(db_engine) as conn:
        conn.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": ids[2]})
    with db_sessions() as session:
        result = audit.verify(session)
    assert (result.ok, result.first_bad_id) == (False, ids[3])
    assert "removed" in result.reason and f"event {ids[1]}" in result.reason


def test_deleted_first_event_is_detected(
    db_engine: Engine, db_sessions: sessionmaker[Session]
) -> None:
    ids = _fill(db_sessions, 3)
    with _as_attacker(db_engine) as conn:
        conn.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": ids[0]})
    with db_sessions() as session:
        result = audit.verify(session)
    assert (result.ok, result.first_bad_id) == (False, ids[1])
    assert "the start of the log" in result.reason


@pytest.mark.timeout(120)
def test_concurrent_appends_form_one_chain(
    db_sessions: sessionmaker[Session], race: Callable[..., list[None]]
) -> None:
    writers, per_writer = 6, 8

    def write(w: int) -> None:
        for i in range(per_writer):
            with db_sessions.begin() as session:
                audit.append(
                    session,
                    action="test.concurrent",
                    actor_id=f"W{w}",
                    actor_name=f"writer {w}",
                    team_id="T1",
                    channel_id="C1",
                    request_id=None,
                    details={"i": i},
                )

    race(writers, write)
    with db_sessions() as session:
        result = audit.verify(session)
        prev_hashes = session.scalars(select(AuditEvent.prev_hash)).all()
    assert result.ok, result.reason
    assert result.checked == writers * per_writer
    assert len(set(prev_hashes)) == len(prev_hashes), "two events claim the same predecessor"


def test_naive_timestamps_are_refused(db_sessions: sessionmaker[Session]) -> None:
    with pytest.raises(ValueError, match="timezone-aware"), db_sessions.begin() as session:
        _append(session, 1, at=datetime(2030, 1, 1))


# --- redaction ------------------------------------------------------------------------------


def test_redact_replaces_secret_keys_at_any_depth() -> None:
    details = {
        "member": "member-a",
        "KUBECONFIG": "apiVersion: v1\nusers: ...",
        "auth": {"Authorization": "Bearer abc", "x-api-key": "k", "user": "rita"},
        "clients": [
            {"name": "a", "client-key-data": "LS0t", "clientCredentials": {"id": "x"}},
            {"name": "b", "db_password": "hunter2", "signingSecret": "s", "id_token": "t"},
        ],
        "jwt": "eyJ...",
        "count": 3,
    }
    assert redact(details) == {
        "member": "member-a",
        "KUBECONFIG": REDACTED,
        "auth": {"Authorization": REDACTED, "x-api-key": REDACTED, "user": "rita"},
        "clients": [
            {"name": "a", "client-key-data": REDACTED, "clientCredentials": REDACTED},
            {"name": "b", "db_password": REDACTED, "signingSecret": REDACTED, "id_token": REDACTED},
        ],
        "jwt": REDACTED,
        "count": 3,
    }


def test_redact_replaces_tokens_inside_strings() -> None:
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW0ifQ.c2lnbmF0dXJl"
    pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----"
    assert redact(
        [
            "xoxb-" + "1234-5678-AbCdEf",
            "xapp-1-A0123-456-abcdef",
            "chat.postMessage failed with xoxp-1-2-3 (invalid_auth)",
            f"token {jwt} rejected",
            f"key: {pem} end",
            "xoxz-not-a-token and plain text",
            ("nested", ["xoxr-9-9"]),
        ]
    ) == [
        REDACTED,
        REDACTED,
        f"chat.postMessage failed with {REDACTED} (invalid_auth)",
        f"token {REDACTED} rejected",
        f"key: {REDACTED} end",
        "xoxz-not-a-token and plain text",
        ["nested", [REDACTED]],
    ]


def test_secrets_never_reach_the_database(
    db_engine: Engine, db_sessions: sessionmaker[Session]
) -> None:
    with db_sessions.begin() as session:
        _append(
            session,
            1,
            details={
                "error": "auth.test: xoxb-" + "111-222-SECRETVALUE",
                "settings": {"slack": {"bot_token": SecretStr("xoxb-hidden")}, "Token": "plain"},
                "state": RequestState.PENDING,
                "when": T0,
            },
        )
    with db_engine.connect() as conn:
        stored = conn.execute(text("SELECT details FROM audit_events")).scalar_one()
    assert "SECRETVALUE" not in stored and "hidden" not in stored and "plain" not in stored
    assert json.loads(stored) == {
        "error": f"auth.test: {REDACTED}",
        "settings": {"slack": {"bot_token": REDACTED}, "Token": REDACTED},
        "state": "pending",
        "when": "2030-01-01T12:00:00+00:00",
    }
    with db_sessions() as session:
        assert audit.verify(session).ok


# --- export ---------------------------------------------------------------------------------

NASTY_NAME = 'Eve "the tester", line1\nline2\r\x1b[31mred\x07\u2028end'


def _fill_for_export(sessions: sessionmaker[Session]) -> list[int]:
    with sessions.begin() as session:
        return [
            _append(session, 0).id,
            _append(session, 1, actor_name=NASTY_NAME, details={"note": "a\nb\tc\x00d"}).id,
            _append(session, 2, request_id=None).id,
        ]


def test_export_jsonl_since(db_sessions: sessionmaker[Session]) -> None:
    ids = _fill_for_export(db_sessions)
    out = io.StringIO()
    with db_sessions() as session:
        assert audit.export(session, T0 + timedelta(minutes=1), "jsonl", out) == 2
    text_out = out.getvalue()
    assert text_out.isascii()
    lines = text_out.splitlines()  # also splits on \u2028 and \x1c-\x1e: none may be raw
    assert len(lines) == 2
    records = [json.loads(line) for line in lines]
    assert [r["id"] for r in records] == ids[1:]
    assert records[0]["actor_name"] == NASTY_NAME
    assert records[0]["details"] == {"note": "a\nb\tc\x00d"}
    assert records[0]["at"] == "2030-01-01T12:01:00.000000+00:00"
    assert records[1]["request_id"] is None
    assert {"prev_hash", "hash", "team_id", "channel_id", "action"} <= set(records[0])

    everything = io.StringIO()
    with db_sessions() as session:
        assert audit.export(session, None, "jsonl", everything) == 3


def test_export_csv_since(db_sessions: sessionmaker[Session]) -> None:
    ids = _fill_for_export(db_sessions)
    out = io.StringIO(newline="")
    with db_sessions() as session:
        assert audit.export(session, T0 + timedelta(minutes=1), "csv", out) == 2
    rows = list(csv.reader(io.StringIO(out.getvalue(), newline="")))
    assert rows[0] == [
        "id",
        "at",
        "team_id",
        "channel_id",
        "actor_id",
        "actor_name",
        "action",
        "request_id",
        "details",
        "prev_hash",
        "hash",
    ]
    assert len(rows) == 3
    header, first, second = rows
    record = dict(zip(header, first, strict=True))
    assert record["id"] == str(ids[1])
    assert record["actor_name"] == NASTY_NAME  # quoted, so the newlines survive as data
    assert json.loads(record["details"]) == {"note": "a\nb\tc\x00d"}
    assert "\n" not in record["details"]
    assert dict(zip(header, second, strict=True))["request_id"] == ""


def test_export_rejects_bad_arguments(db_sessions: sessionmaker[Session]) -> None:
    with db_sessions() as session:
        with pytest.raises(ValueError, match="format"):
            audit.export(session, None, "xml", io.StringIO())  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="timezone-aware"):
            audit.export(session, datetime(2030, 1, 1), "jsonl", io.StringIO())
