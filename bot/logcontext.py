"""Who and what a log line is about — the request id, the user, the step — on every line logged
while a migration runs, and `KSMC_LOG_FORMAT=json` for log pipelines that index fields.

The engine logs from deep inside steps, where neither the request nor its requester is known;
context variables carry them from where they are known (the runner's call into the engine,
`bot.app`) to every record logged in that thread, and `ContextFilter` copies them onto each
record. JSON lines are python-json-logger's, one object per line with `request_id`, `user` and
`step` (null outside a migration); the text format is unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from pythonjsonlogger.json import JsonFormatter

REQUEST_ID: ContextVar[str | None] = ContextVar("ksmc_request_id", default=None)
USER: ContextVar[str | None] = ContextVar("ksmc_user", default=None)
STEP: ContextVar[str | None] = ContextVar("ksmc_step", default=None)

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: The fields of a JSON line (python-json-logger takes them from this format string).
JSON_FIELDS = "%(levelname)s %(name)s %(threadName)s %(request_id)s %(user)s %(step)s %(message)s"
#: Names an operator's log query expects (`level`, not Python's `levelname`).
RENAMED = {"levelname": "level", "name": "logger", "threadName": "thread"}


@contextmanager
def bound(request_id: str | None = None, user: str | None = None) -> Iterator[None]:
    """Every record logged in this context (this thread, or a copied context) carries them."""
    tokens = (REQUEST_ID.set(request_id), USER.set(user), STEP.set(None))
    try:
        yield
    finally:
        STEP.reset(tokens[2])
        USER.reset(tokens[1])
        REQUEST_ID.reset(tokens[0])


def set_step(step: str | None) -> None:
    """The step now running in this context (None between steps)."""
    STEP.set(step)


class ContextFilter(logging.Filter):
    """Copies the context variables onto each record (as `request_id`, `user`, `step`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        record.user = USER.get()
        record.step = STEP.get()
        return True


def json_formatter() -> logging.Formatter:
    return JsonFormatter(
        JSON_FIELDS,
        rename_fields=RENAMED,
        timestamp="time",  # ISO 8601 in UTC
        defaults={"request_id": None, "user": None, "step": None},
    )


def configure(level: str, fmt: str) -> None:
    """The process's logging for `ksmc-bot serve`: `fmt` is "text" or "json"."""
    logging.basicConfig(level=level.upper(), format=TEXT_FORMAT)
    context = ContextFilter()
    for handler in logging.getLogger().handlers:
        handler.addFilter(context)
        if fmt == "json":
            handler.setFormatter(json_formatter())
