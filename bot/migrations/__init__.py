"""Alembic migrations for the bot's database; `bot.db.upgrade()` runs them, no alembic.ini needed.

`python -m bot.migrations <alembic command> [--url URL]` runs any Alembic command (for example
`revision --autogenerate -m "add x" --rev-id 0002`) with the same in-code configuration.
"""
