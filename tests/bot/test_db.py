"""The database layer on SQLite and PostgreSQL: migrations, models, and guarded transitions.

Checks that Alembic builds the schema from nothing and matches the models (ignoring APScheduler's
table), that rows round-trip with aware UTC timestamps, and that compare-and-set transitions,
approvals and replay keys let exactly one of several concurrent writers win.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from sqlalchemy import event, func, inspect, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot import audit, store
from bot.audit import SYSTEM, Actor
from bot.db import (
    Approval,
    AuditEvent,
    Base,
    Request,
    StepProgress,
    alembic_config,
    current_revision,
    is_up_to_date,
    make_engine,
    new_request_id,
    normalize_url,
    upgrade,
    utcnow,
)
from bot.states import (
    TERMINAL,
    TRANSITIONS,
    IllegalTransition,
    RequestState,
    StepState,
    is_terminal,
)

S = RequestState
APPROVER = Actor(id="U0APPROVER", name="alice")


def _schema_diff(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn), Base.metadata))


def _count(sessions: sessionmaker[Session], model: type[Base]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


# --- migrations -----------------------------------------------------------------------------


def test_upgrade_builds_the_schema_from_an_empty_database(db_url: str) -> None:
    assert current_revision(db_url) is None
    assert not is_up_to_date(db_url)

    upgrade(db_url)
    upgrade(db_url)  # a second run (another replica starting) changes nothing

    assert current_revision(db_url) == "0003"  # 0002 drops the job table, 0003 keys the audit
    assert is_up_to_date(db_url)
    engine = make_engine(db_url)
    try:
        assert is_up_to_date(engine)
        assert _schema_diff(engine) == [], "models and migrations disagree"
        command.check(alembic_config(db_url))
        tables = set(inspect(engine).get_table_names())
        assert {"requests", "approvals", "step_progress", "audit_events", "seen_payloads"} <= tables
    finally:
        engine.dispose()


@pytest.mark.timeout(120)
def test_replicas_upgrading_at_once(db_url: str) -> None:
    """Several processes (Alembic is process-global, so not threads) start on one database."""
    code = "import sys; from bot.db import upgrade; upgrade(sys.argv[1])"
    replicas = [
        subprocess.Popen([sys.executable, "-c", code, db_url], stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    for replica in replicas:
        _, err = replica.communicate(timeout=90)
        assert replica.returncode == 0, err
    assert is_up_to_date(db_url)


def test_autogenerate_ignores_the_apscheduler_job_table(migrated_db_url: str) -> None:
    jobstore = SQLAlchemyJobStore(url=migrated_db_url)
    jobstore.start(None, "default")  # creates apscheduler_jobs in the same database
    jobstore.shutdown()
    engine = make_engine(migrated_db_url)
    try:
        assert "apscheduler_jobs" in inspect(engine).get_table_names()
    finally:
        engine.dispose()
    # `alembic check` runs env.py's autogenerate comparison and raises on any difference.
    command.check(alembic_config(migrated_db_url))


def test_downgrade_to_nothing_and_up_again(migrated_db_url: str) -> None:
    command.downgrade(alembic_config(migrated_db_url), "base")
    assert current_revision(migrated_db_url) is None
    upgrade(migrated_db_url)
    assert is_up_to_date(migrated_db_url)


def test_postgres_urls_use_psycopg() -> None:
    assert normalize_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("sqlite:///x.db").drivername == "sqlite"


def test_sqlite_engine_settings(tmp_path: Any) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    finally:
        engine.dispose()


# --- models ---------------------------------------------------------------------------------


def test_request_id_is_short_opaque_base32() -> None:
    ids = {new_request_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(len(i) == 8 and set(i) <= set("abcdefghijklmnopqrstuvwxyz234567") for i in ids)


def test_models_round_trip(db_sessions: sessionmaker[Session]) -> None:
    cest = timezone(timedelta(hours=2))
    run_at = datetime(2030, 5, 1, 22, 30, 15, 123456, tzinfo=cest)
    plan = {"steps": [{"name": "unbind", "objects": ["ws/a", "ns/é"]}], "facts": {"uid": "x"}}
    with db_sessions.begin() as session:
        request = Request(
            id="abcd2345",
            state=S.PENDING,
            command_text="migrate member-a to host-b at 22:30",
            command_json={"member": "member-a", "keep": ["ws-1"], "n": 2, "ok": True},
            team_id="T1",
            channel_id="C1",
            requester_id="U1",
            requester_name="Rita \u00e9\n",
            expires_at=datetime(2030, 5, 1, 20, 0, tzinfo=UTC),
            run_at=run_at,
            plan_json=plan,
            dry_run=True,
            member="member-a",
            target_host="host-b",
        )
        request.approvals.append(Approval(approver_id="U2", approver_name="alice"))
        request.steps.extend(
            [
                StepProgress(index=1, name="rebind"),
                StepProgress(index=0, name="unbind", state=StepState.DONE, attempts=2),
            ]
        )
        session.add(request)

    with db_sessions() as session:
        got = session.get_one(Request, "abcd2345")
        assert got.state is S.PENDING
        assert got.kind == "migrate"
        assert got.version == 1
        assert got.dry_run is True
        assert got.command_json == {"member": "member-a", "keep": ["ws-1"], "n": 2, "ok": True}
        assert got.plan_json == plan
        assert got.preflight_json is None  # SQL NULL, not JSON null
        assert got.message_ts is None and got.error is None
        assert got.requester_name == "Rita \u00e9\n"
        assert got.run_at == run_at and got.run_at is not None
        assert got.run_at.tzinfo is UTC and got.run_at.hour == 20
        assert got.created_at.tzinfo is UTC and got.updated_at.tzinfo is UTC
        assert [(s.index, s.name, s.state, s.attempts) for s in got.steps] == [
            (0, "unbind", StepState.DONE, 2),
            (1, "rebind", StepState.PENDING, 0),
        ]
        assert [a.approver_id for a in got.approvals] == ["U2"]
        null_count = session.scalar(
            select(func.count()).select_from(Request).where(Request.preflight_json.is_(None))
        )
        assert null_count == 1


def test_naive_datetimes_are_refused(db_sessions: sessionmaker[Session]) -> None:
    with pytest.raises(Exception, match="naive datetime"), db_sessions.begin() as session:
        session.add(
            Request(
                state=S.RECEIVED,
                command_text="x",
                command_json={},
                team_id="T",
                channel_id="C",
                requester_id="U",
                requester_name="u",
                expires_at=datetime(2030, 1, 1),
                member="m",
                target_host="h",
            )
        )


def test_step_index_is_unique_per_request(
    db_sessions: sessionmaker[Session], make_request: Callable[..., str]
) -> None:
    rid = make_request()
    with pytest.raises(IntegrityError), db_sessions.begin() as session:
        session.add_all(
            [
                StepProgress(request_id=rid, index=0, name="a"),
                StepProgress(request_id=rid, index=0, name="b"),
            ]
        )


# --- states ---------------------------------------------------------------------------------


def test_transition_table_matches_the_life_cycle() -> None:
    assert set(TRANSITIONS) == set(RequestState)
    assert TRANSITIONS[S.PENDING] == {S.PENDING, S.APPROVED, S.REJECTED, S.CANCELLED, S.EXPIRED}
    assert TRANSITIONS[S.FAILED] == {S.RUNNING, S.ABANDONED, S.ROLLING_BACK}
    assert TRANSITIONS[S.ROLLING_BACK] == {S.ROLLED_BACK, S.ROLLBACK_FAILED}
    assert TRANSITIONS[S.ROLLBACK_FAILED] == {S.ROLLING_BACK, S.ABANDONED}
    assert {
        S.BLOCKED,
        S.SUCCEEDED,
        S.REJECTED,
        S.CANCELLED,
        S.EXPIRED,
        S.ABANDONED,
        S.ROLLED_BACK,
    } == TERMINAL
    assert not is_terminal(S.FAILED) and is_terminal(S.SUCCEEDED)
    reachable = {S.RECEIVED}
    frontier = [S.RECEIVED]
    while frontier:
        for nxt in TRANSITIONS[frontier.pop()] - reachable:
            reachable.add(nxt)
            frontier.append(nxt)
    assert reachable == set(RequestState)


# --- guarded transitions --------------------------------------------------------------------


def test_create_request_audits_its_arrival(
    db_sessions: sessionmaker[Session], make_request: Callable[..., str]
) -> None:
    rid = make_request(S.RECEIVED)
    with db_sessions() as session:
        request = session.get_one(Request, rid)
        assert (request.state, request.version) == (S.RECEIVED, 1)
        event = session.scalars(select(AuditEvent)).one()
        assert (event.action, event.request_id, event.actor_id) == (
            "request.received",
            rid,
            "U0REQUESTER",
        )
        assert (event.team_id, event.channel_id) == ("T0TEAM", "C0OPS")


def test_transition_updates_state_version_fields_and_audits(
    db_sessions: sessionmaker[Session], make_request: Callable[..., str]
) -> None:
    rid = make_request(S.RECEIVED)
    with db_sessions.begin() as session:
        loaded = session.get_one(Request, rid)  # already in the identity map: refreshed too
        request = store.transition(
            session,
            rid,
            S.RECEIVED,
            S.PREFLIGHTING,
            actor=SYSTEM,
            action="request.preflighting",
            details={"checks": 7},
            message_ts="1700000000.000100",
        )
        assert request is loaded
        assert (request.state, request.version, request.message_ts) == (
            S.PREFLIGHTING,
            2,
            "1700000000.000100",
        )
    with db_sessions() as session:
        request = session.get_one(Request, rid)
        assert (request.state, request.version) == (S.PREFLIGHTING, 2)
        assert request.updated_at >= request.created_at
        event = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        assert event is not None
        assert event.action == "request.preflighting"
        assert event.actor_id == SYSTEM.id
        assert '"from":"received"' in event.details and '"to":"preflighting"' in event.details
        assert '"checks":7' in event.details
        assert audit.verify(session).ok


def test_transition_refuses_arrows_the_life_cycle_lacks(
    db_sessions: sessionmaker[Session], make_request: Callable[..., str]
) -> None:
    rid = make_request(S.SUCCEEDED)
    with pytest.raises(IllegalTransition), db_sessions.begin() as session:
        store.transition(session, rid, S.SUCCEEDED, S.RUNNING, actor=SYSTEM, action="x")
    with pytest.raises(TypeError, match="version"), db_sessions.begin() as session:
        store.transition(session, rid, S.PENDING, S.APPROVED, actor=SYSTEM, action="x", version=9)


def test_stale_transition_reports_the_current_state_and_writes_nothing(
    db_sessions: sessionmaker[Session], make_request: Callable[..., str]
) -> None:
    rid = make_request(S.APPROVED)
    events_before = _count(db_sessions, AuditEvent)
    with pytest.raises(store.StaleTransition) as caught, db_sessions.begin() as session:
        store.transition(
            session, rid, [S.PENDING], S.CANCELLED, actor=APPROVER, action="request.cancelled"
        )
    assert caught.value.current_state is S.APPROVED
    assert caught.value.expected == {S.PENDING}
    assert _count(db_sessions, AuditEvent) == events_before

    with pytest.raises(store.StaleTransition) as caught, db_sessions.begin() as session:
        store.transition(
            session,
            rid,
            S.APPROVED,
            S.RUNNING,
            actor=SYSTEM,
            action="request.running",
            expected_version=7,
        )
    assert caught.value.current_version == 1 and caught.value.expected_version == 7

    with pytest.raises(store.RequestNotFound), db_sessions.begin() as session:
        store.transition(session, "nosuchid", S.PENDING, S.APPROVED, actor=APPROVER, action="x")


def test_transition_rolls_back_with_its_transaction(
    db_sessions: sessionmaker[Session], make_request: Callable[..., str]
) -> None:
    rid = make_request(S.PENDING)
    events_before = _count(db_sessions, AuditEvent)
    with pytest.raises(RuntimeError), db_sessions.begin() as session:
        store.transition(session, rid, S.PENDING, S.APPROVED, actor=APPROVER, action="approved")
        raise RuntimeError("Slack fell over before commit")
    with db_sessions() as session:
        assert session.get_one(Request, rid).state is S.PENDING
    assert _count(db_sessions, AuditEvent) == events_before


@pytest.mark.timeout(120)
def test_concurrent_approvals_have_exactly_one_winner(
    db_sessions: sessionmaker[Session],
    make_request: Callable[..., str],
    race: Callable[..., list[str]],
) -> None:
    rid = make_request(S.PENDING)

    def approve(i: int) -> str:
        try:
            with db_sessions.begin() as session:
                store.transition(
                    session,
                    rid,
                    S.PENDING,
                    S.APPROVED,
                    actor=Actor(f"U{i}", f"approver {i}"),
                    action="request.approved",
                )
        except store.StaleTransition as e:
            assert e.current_state is S.APPROVED
            return "stale"
        return "won"

    outcomes = race(8, approve)
    assert sorted(outcomes) == ["stale"] * 7 + ["won"]
    with db_sessions() as session:
        request = session.get_one(Request, rid)
        assert (request.state, request.version) == (S.APPROVED, 2)
        approved = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "request.approved")
        ).all()
        assert len(approved) == 1
        assert audit.verify(session).ok


@pytest.mark.timeout(120)
def test_concurrent_compare_and_set_on_the_same_version(
    db_sessions: sessionmaker[Session],
    make_request: Callable[..., str],
    race: Callable[..., list[str]],
) -> None:
    """Both clicks were rendered from version 1; only the first write may land."""
    rid = make_request(S.PENDING)
    with db_sessions() as session:
        seen_version = session.get_one(Request, rid).version

    def decide(i: int) -> str:
        to_state = S.APPROVED if i % 2 == 0 else S.REJECTED
        try:
            with db_sessions.begin() as session:
                store.transition(
                    session,
                    rid,
                    S.PENDING,
                    to_state,
                    actor=Actor(f"U{i}", f"user {i}"),
                    action=f"request.{to_state}",
                    expected_version=seen_version,
                )
        except store.StaleTransition:
            return "stale"
        return str(to_state)

    outcomes = race(6, decide)
    winners = [o for o in outcomes if o != "stale"]
    assert len(winners) == 1
    with db_sessions() as session:
        request = session.get_one(Request, rid)
        assert (str(request.state), request.version) == (winners[0], 2)


@pytest.mark.parametrize(
    ("meddle", "outcome"),
    [
        ("UPDATE requests SET version = version + 1", "approved"),
        ("UPDATE requests SET state = 'cancelled', version = version + 1", "stale"),
    ],
    ids=["version-bumped", "state-changed"],
)
def test_a_write_between_read_and_update(
    db_engine: Engine,
    db_sessions: sessionmaker[Session],
    make_request: Callable[..., str],
    meddle: str,
    outcome: str,
) -> None:
    """On PostgreSQL another writer can commit between the version read and the UPDATE."""
    if db_engine.dialect.name == "sqlite":
        pytest.skip("SQLite transactions hold the write lock from BEGIN: nothing can slip in")
    rid = make_request(S.PENDING)
    fired: list[str] = []

    def meddle_once(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("UPDATE requests") and not fired:
            fired.append(statement)
            with db_engine.begin() as other:  # a second connection, committed at once
                other.execute(text(meddle))

    event.listen(db_engine, "before_cursor_execute", meddle_once)
    try:
        with db_sessions.begin() as session:
            request = store.transition(
                session, rid, S.PENDING, S.APPROVED, actor=APPROVER, action="request.approved"
            )
            result = str(request.state)
    except store.StaleTransition as e:
        assert e.current_state is S.CANCELLED
        result = "stale"
    finally:
        event.remove(db_engine, "before_cursor_execute", meddle_once)
    assert fired and result == outcome
    if outcome == "approved":
        with db_sessions() as session:
            assert session.get_one(Request, rid).version == 3  # 1, meddled to 2, approved to 3


def test_pending_to_pending_records_one_more_approval(
    db_sessions: sessionmaker[Session], make_request: Callable[..., str]
) -> None:
    rid = make_request(S.PENDING)
    with db_sessions.begin() as session:
        store.add_approval(session, rid, APPROVER.id, APPROVER.name)
        request = store.transition(
            session, rid, S.PENDING, S.PENDING, actor=APPROVER, action="request.approval_added"
        )
        assert (request.state, request.version) == (S.PENDING, 2)
        assert [a.approver_id for a in request.approvals] == [APPROVER.id]


def test_duplicate_approval_is_refused_and_the_transaction_survives(
    db_sessions: sessionmaker[Session], make_request: Callable[..., str]
) -> None:
    rid = make_request(S.PENDING)
    with db_sessions.begin() as session:
        store.add_approval(session, rid, APPROVER.id, APPROVER.name)
    with db_sessions.begin() as session:
        with pytest.raises(store.DuplicateApproval):
            store.add_approval(session, rid, APPROVER.id, "alice again")
        store.add_approval(session, rid, "U0BOB", "bob")  # same transaction, still usable
    with db_sessions() as session:
        rows = session.scalars(select(Approval).order_by(Approval.id)).all()
        assert [(a.approver_id, a.approver_name) for a in rows] == [
            (APPROVER.id, APPROVER.name),
            ("U0BOB", "bob"),
        ]
    with pytest.raises(store.RequestNotFound), db_sessions.begin() as session:
        store.add_approval(session, "nosuchid", APPROVER.id, APPROVER.name)


@pytest.mark.timeout(120)
def test_concurrent_duplicate_approvals(
    db_sessions: sessionmaker[Session],
    make_request: Callable[..., str],
    race: Callable[..., list[str]],
) -> None:
    rid = make_request(S.PENDING)

    def click(_i: int) -> str:
        try:
            with db_sessions.begin() as session:
                store.add_approval(session, rid, APPROVER.id, APPROVER.name)
        except store.DuplicateApproval:
            return "duplicate"
        return "recorded"

    assert sorted(race(4, click)) == ["duplicate"] * 3 + ["recorded"]


def test_seen_payloads_drop_replays(db_sessions: sessionmaker[Session]) -> None:
    old = utcnow() - timedelta(hours=2)
    with db_sessions.begin() as session:
        assert store.mark_seen(session, "trigger-1", at=old)
        assert not store.mark_seen(session, "trigger-1")
        assert store.mark_seen(session, "trigger-2")
    with db_sessions.begin() as session:
        assert not store.mark_seen(session, "trigger-2")
        assert store.forget_seen_before(session, utcnow() - timedelta(hours=1)) == 1
        assert store.mark_seen(session, "trigger-1")


def test_audit_rows_cannot_be_updated_or_deleted(
    db_engine: Engine, make_request: Callable[..., str]
) -> None:
    make_request(S.RECEIVED)
    for statement in ("UPDATE audit_events SET actor_name = 'mallory'", "DELETE FROM audit_events"):
        with pytest.raises(DBAPIError, match="append-only"), db_engine.begin() as conn:
            conn.execute(text(statement))
