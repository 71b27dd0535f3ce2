"""Drop APScheduler's job table: no pickled Python objects in the database any more.

The leader now keeps its timers in memory and rebuilds them from the request rows
(`bot.scheduler`); a row in `apscheduler_jobs` was unpickled by the leader, so whoever could
write the database could run code next to every cluster credential (issue #12, finding 1).
Nothing in it is needed: every timer is derived from `requests` and the audit log.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("DROP TABLE IF EXISTS apscheduler_jobs")


def downgrade() -> None:
    # Deliberately not recreated: the bot no longer reads it, and APScheduler would create it.
    pass
