"""Alembic environment: the bot's models are the target, its engine settings are used.

Configured in code by `bot.db.alembic_config()`; the URL arrives in `config.attributes["url"]`
(or an open connection in `config.attributes["connection"]`).
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection

from bot import db

#: Tables in the same database that belong to someone else. APScheduler's SQLAlchemyJobStore
#: creates `apscheduler_jobs` itself; autogenerate must neither drop nor recreate it.
FOREIGN_TABLES = frozenset({"apscheduler_jobs"})

#: pg_advisory_xact_lock key that serializes replicas upgrading the same database at start-up.
MIGRATION_LOCK_KEY = 0x6B736D63_6D696772  # "ksmcmigr"

config = context.config
target_metadata = db.Base.metadata


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any | None
) -> bool:
    if type_ == "table":
        return name not in FOREIGN_TABLES
    table = getattr(obj, "table", None)
    return getattr(table, "name", None) not in FOREIGN_TABLES


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    # Revisions stay free of application imports: UTCDateTime is a timestamptz / DATETIME.
    if type_ == "type" and isinstance(obj, db.UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(**kwargs: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        include_object=include_object,
        render_item=render_item,
        # SQLite cannot ALTER most things: batch mode recreates the table instead.
        render_as_batch=True,
        compare_type=True,
        # PostgreSQL and SQLite (with bot.db's BEGIN handling) both have transactional DDL:
        # an upgrade either completes or leaves the schema as it was.
        transactional_ddl=True,
        **kwargs,
    )


def _url() -> Any:
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL: use bot.db.upgrade(url) or python -m bot.migrations")
    return url


def run_migrations_offline() -> None:
    _configure(url=_url(), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Read the current revision only once no other replica is migrating.
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    # Foreign keys off on SQLite while migrating: batch mode drops and recreates tables, which
    # with enforcement on would cascade or fail. Checked again once the migrations are done.
    engine = db.make_engine(_url(), sqlite_foreign_keys=False)
    try:
        with engine.connect() as connection:
            _run(connection)
            if connection.dialect.name == "sqlite":
                problems = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                connection.rollback()
                if problems:
                    raise RuntimeError(f"foreign key violations after migrating: {problems}")
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
