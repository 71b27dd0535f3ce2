"""The database: typed SQLAlchemy models, the engine, and Alembic wiring.

The database, not Slack, is the source of truth for every request, so this module owns the schema
(changed only through Alembic revisions in `bot/migrations/`), the engine settings that make
SQLite behave like a proper transactional store, and the readiness check that tells /readyz
whether the schema is at the head revision. State changes themselves live in `bot.store`.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, ClassVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    Enum,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
    event,
    pool,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    relationship,
    sessionmaker,
)

from bot.states import RequestState, StepState

#: How long a SQLite connection waits for the write lock before giving up.
SQLITE_BUSY_TIMEOUT_MS = 30_000

#: Constraint and index names are predictable, so Alembic revisions can refer to them (and
#: batch mode on SQLite can recreate them).
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC (the only kind of datetime the models accept)."""
    return datetime.now(UTC)


def new_request_id() -> str:
    """A short opaque id: 8 characters of lowercase base32 (40 random bits)."""
    return base64.b32encode(secrets.token_bytes(5)).decode("ascii").lower()


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out — on PostgreSQL and on SQLite.

    PostgreSQL stores `timestamptz`. SQLite has no time zones, so the value is stored as naive
    UTC text and marked UTC again on the way out. Naive datetimes are refused rather than guessed.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware (UTC) datetime")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):  # pragma: no cover - drivers return datetimes
            raise TypeError(f"expected a datetime from the database, got {value!r}")
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


#: JSON documents: `jsonb` on PostgreSQL, JSON text on SQLite. Python None is SQL NULL.
JSONDocument = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


def _enum_column(enum_class: type[RequestState] | type[StepState]) -> Enum:
    # Stored as the lowercase value in a VARCHAR, with no CHECK constraint, so adding a state
    # later needs no table rebuild; Python refuses unknown values on the way in and out.
    return Enum(
        enum_class,
        native_enum=False,
        create_constraint=False,
        length=32,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


class Request(Base):
    """One migration request and everything needed to re-render its Slack message."""

    __tablename__ = "requests"

    id: Mapped[str] = mapped_column(String(16), primary_key=True, default=new_request_id)
    kind: Mapped[str] = mapped_column(String(32), default="migrate")
    state: Mapped[RequestState] = mapped_column(_enum_column(RequestState), index=True)
    command_text: Mapped[str] = mapped_column(Text)
    command_json: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    team_id: Mapped[str] = mapped_column(String(64))
    channel_id: Mapped[str] = mapped_column(String(64))
    requester_id: Mapped[str] = mapped_column(String(64))
    requester_name: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    expires_at: Mapped[datetime]
    #: Start of the maintenance window; None means "as soon as approved".
    run_at: Mapped[datetime | None]
    #: The Slack message that shows this request, once posted.
    message_ts: Mapped[str | None] = mapped_column(String(32))
    plan_json: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    preflight_json: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    error: Mapped[str | None] = mapped_column(Text)
    #: Bumped by every transition; the compare-and-set in `bot.store.transition` checks it.
    version: Mapped[int] = mapped_column(Integer, default=1)
    dry_run: Mapped[bool] = mapped_column(default=False)
    #: The member cluster being migrated (indexed for the per-member lock).
    member: Mapped[str] = mapped_column(String(253), index=True)
    target_host: Mapped[str] = mapped_column(String(253))

    approvals: Mapped[list[Approval]] = relationship(
        back_populates="request", order_by="Approval.id", passive_deletes=True
    )
    steps: Mapped[list[StepProgress]] = relationship(
        back_populates="request", order_by="StepProgress.index", passive_deletes=True
    )

    def __repr__(self) -> str:
        return f"<Request {self.id} {self.state} v{self.version} {self.member}→{self.target_host}>"


class Approval(Base):
    """One approver's approval of one request; a second click by the same person is refused."""

    __tablename__ = "approvals"
    __table_args__ = (UniqueConstraint("request_id", "approver_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"))
    approver_id: Mapped[str] = mapped_column(String(64))
    approver_name: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    request: Mapped[Request] = relationship(back_populates="approvals")


class StepProgress(Base):
    """Persisted progress of one plan step, so a resumed run skips what is already done."""

    __tablename__ = "step_progress"
    __table_args__ = (UniqueConstraint("request_id", "index"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"))
    index: Mapped[int]
    name: Mapped[str] = mapped_column(String(128))
    state: Mapped[StepState] = mapped_column(_enum_column(StepState), default=StepState.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    message: Mapped[str | None] = mapped_column(Text)

    request: Mapped[Request] = relationship(back_populates="steps")


class AuditEvent(Base):
    """One link of the append-only, hash-chained audit log. Written only by `bot.audit.append`.

    `request_id` is deliberately not a foreign key: the log outlives the rows it talks about.
    The database refuses UPDATE and DELETE on this table (triggers created by the migration).
    """

    __tablename__ = "audit_events"
    # AUTOINCREMENT on SQLite: ids are never reused, even after the highest row is removed.
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[datetime] = mapped_column(index=True)
    team_id: Mapped[str] = mapped_column(String(64))
    channel_id: Mapped[str] = mapped_column(String(64))
    actor_id: Mapped[str] = mapped_column(String(64))
    actor_name: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(16), index=True)
    #: Canonical JSON text (sorted keys, ASCII), exactly as hashed.
    details: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    #: "hmac" (keyed with KSMC_AUDIT_KEY) or "sha256" (written before the key was set).
    scheme: Mapped[str] = mapped_column(String(16), default="sha256", server_default="sha256")


class SeenPayload(Base):
    """A Slack payload already handled (trigger_id or body hash), to drop replays/duplicates."""

    __tablename__ = "seen_payloads"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


# --- engine and sessions --------------------------------------------------------------------


def normalize_url(url: str | URL) -> URL:
    """Parse `url`, sending plain PostgreSQL URLs to the psycopg (v3) driver."""
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    return u


def make_engine(url: str | URL, *, echo: bool = False, sqlite_foreign_keys: bool = True) -> Engine:
    """An engine for `url` (SQLite file or `postgresql+psycopg://`), configured for this bot.

    On SQLite every transaction starts with BEGIN IMMEDIATE, so it holds the single write lock
    from its first statement: a compare-and-set never reads a snapshot it cannot write, and the
    audit chain cannot fork. Waiting for the lock is bounded by `busy_timeout`; WAL lets readers
    of other connections (and processes) proceed meanwhile. SQLAlchemy's AUTOCOMMIT isolation
    level is not supported on these SQLite engines.
    """
    u = normalize_url(url)
    if u.get_backend_name() != "sqlite":
        return create_engine(u, echo=echo, pool_pre_ping=True)

    in_memory = u.database in (None, "", ":memory:") or "mode=memory" in str(u)
    engine = create_engine(
        u,
        echo=echo,
        connect_args={"check_same_thread": False},
        # An in-memory database exists once per connection: share a single one.
        poolclass=pool.StaticPool if in_memory else pool.QueuePool,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module (which would not BEGIN before a
        # SELECT) and emit BEGIN ourselves in `_on_begin`.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            if not in_memory:
                cursor.execute("PRAGMA journal_mode = WAL")
                cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute(f"PRAGMA foreign_keys = {'ON' if sqlite_foreign_keys else 'OFF'}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after commit (to render Slack after the write)."""
    return sessionmaker(engine, expire_on_commit=False)


# --- Alembic ----------------------------------------------------------------------------------


def alembic_config(url: str | URL | None = None) -> Config:
    """Alembic configuration built in code, pointing at `bot/migrations` inside the package.

    No alembic.ini is needed, so this works from an installed wheel. The URL travels in
    `config.attributes` (not the ini options, where `%` in a password would be interpolated).
    """
    cfg = Config()
    cfg.set_main_option("script_location", "bot:migrations")
    cfg.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    if url is not None:
        cfg.attributes["url"] = normalize_url(url)
    return cfg


def upgrade(url: str | URL, revision: str = "head") -> None:
    """Bring the schema at `url` to `revision` (a brand-new SQLite file or PostgreSQL database
    included), in one transaction. Several replicas may run it at once: on PostgreSQL an
    advisory lock in env.py serializes them, on SQLite the write lock does. Within one process
    call it from one thread only (Alembic's `context` and `op` are process-global)."""
    command.upgrade(alembic_config(url), revision)


@contextmanager
def _connection(target: str | URL | Engine) -> Iterator[Connection]:
    if isinstance(target, Engine):
        with target.connect() as conn:
            yield conn
        return
    engine = make_engine(target)
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def head_revisions() -> frozenset[str]:
    """The head revision(s) of the migrations shipped with this code."""
    script = ScriptDirectory.from_config(alembic_config())
    return frozenset(script.get_heads())


def current_revisions(target: str | URL | Engine) -> frozenset[str]:
    """The revision(s) the database is at (empty when it was never migrated)."""
    with _connection(target) as conn:
        return frozenset(MigrationContext.configure(conn).get_current_heads())


def current_revision(target: str | URL | Engine) -> str | None:
    """The single revision the database is at, or None when it was never migrated."""
    revs = current_revisions(target)
    if len(revs) > 1:
        raise RuntimeError(f"the database has several heads: {sorted(revs)}")
    return next(iter(revs), None)


def is_up_to_date(target: str | URL | Engine) -> bool:
    """True when the database is exactly at the head of the shipped migrations (for /readyz)."""
    return current_revisions(target) == head_revisions()


#: What the bot's runtime role may do on each table (it owns none of them, so it cannot drop the
#: audit log's append-only triggers or alter the schema; only the migration role can).
RUNTIME_GRANTS: dict[str, str] = {
    "requests": "SELECT, INSERT, UPDATE",
    "approvals": "SELECT, INSERT",
    "step_progress": "SELECT, INSERT, UPDATE",
    "audit_events": "SELECT, INSERT",
    "seen_payloads": "SELECT, INSERT, DELETE",
    "alembic_version": "SELECT",
}


def grant_runtime(url: str | URL, role: str) -> None:
    """On PostgreSQL, give `role` (the bot's runtime login) exactly `RUNTIME_GRANTS`, run by the
    owner after `upgrade` (the Helm chart's migration hook). SQLite has no roles: a no-op."""
    engine = make_engine(url)
    try:
        if engine.dialect.name != "postgresql":
            return
        quoted = engine.dialect.identifier_preparer.quote(role)
        with engine.begin() as conn:
            conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA public TO {quoted}")
            for table, privileges in RUNTIME_GRANTS.items():
                conn.exec_driver_sql(f"GRANT {privileges} ON {table} TO {quoted}")
            conn.exec_driver_sql(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {quoted}")
    finally:
        engine.dispose()
