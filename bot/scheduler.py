"""Timed work that must survive restarts: expiry, the half-TTL reminder, maintenance windows.

APScheduler 3.x keeps its jobs in the bot's own database (table `apscheduler_jobs`), so a job
that fell due while the bot was down runs when it starts again. Only the leader runs it: a 3.x
job store must never be shared by two running schedulers.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.engine import Engine

if TYPE_CHECKING:
    from bot.runner import Runner
    from bot.service import RequestService

log = logging.getLogger("ksmc.scheduler")

# Job functions must be importable by name for the persistent job store; they find the live
# service through this module-level binding, set once by `PersistentScheduler.bind`.
_BOUND: dict[str, Any] = {}


def expire_job(request_id: str) -> None:
    _BOUND["service"].expire(request_id)


def remind_job(request_id: str) -> None:
    _BOUND["service"].remind(request_id)


def start_job(request_id: str) -> None:
    _BOUND["runner"].start(request_id)


KINDS = ("expire", "remind", "start")


class PersistentScheduler:
    """The `Scheduler` port on APScheduler with a database job store."""

    def __init__(self, engine: Engine) -> None:
        self._sched = BackgroundScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=engine)},
            job_defaults={"coalesce": True, "misfire_grace_time": None, "max_instances": 1},
            timezone=UTC,
        )
        self._runner: Runner | None = None

    def bind(self, service: RequestService, runner: Runner) -> None:
        _BOUND["service"] = service
        _BOUND["runner"] = runner
        self._runner = runner

    def start(self, tick: float = 1.0) -> None:
        self._sched.start()
        self._sched.add_job(
            reconcile_job, "interval", seconds=tick, id="reconcile", replace_existing=True
        )

    def has(self, kind: str, request_id: str) -> bool:
        return self._sched.get_job(f"{kind}:{request_id}") is not None

    def shutdown(self) -> None:
        if self._sched.running:
            self._sched.shutdown(wait=False)

    def _add(self, kind: str, func: Any, request_id: str, when: datetime) -> None:
        self._sched.add_job(
            func,
            "date",
            run_date=when,
            args=[request_id],
            id=f"{kind}:{request_id}",
            replace_existing=True,
        )

    def expire_at(self, request_id: str, when: datetime) -> None:
        self._add("expire", expire_job, request_id, when)

    def remind_at(self, request_id: str, when: datetime) -> None:
        self._add("remind", remind_job, request_id, when)

    def start_at(self, request_id: str, when: datetime) -> None:
        self._add("start", start_job, request_id, when)

    def start_now(self, request_id: str) -> None:
        if self._runner is not None:
            self._runner.start(request_id)

    def _remove(self, kind: str, request_id: str) -> None:
        with contextlib.suppress(JobLookupError):
            self._sched.remove_job(f"{kind}:{request_id}")

    def cancel_expiry(self, request_id: str) -> None:
        self._remove("expire", request_id)
        self._remove("remind", request_id)

    def cancel_all(self, request_id: str) -> None:
        for kind in KINDS:
            self._remove(kind, request_id)

    def jobs(self) -> list[str]:
        return sorted(job.id for job in self._sched.get_jobs())


def reconcile_job() -> None:
    from bot import recovery

    recovery.reconcile(_BOUND["service"])


class LeaderScheduler:
    """The `Scheduler` port on every replica: jobs are placed only by the leader; what another
    replica asks for is picked up by the leader's reconcile tick from the database."""

    def __init__(self, inner: PersistentScheduler, is_leader: Any) -> None:
        self.inner = inner
        self.is_leader = is_leader

    def has(self, kind: str, request_id: str) -> bool:
        return self.inner.has(kind, request_id)

    def expire_at(self, request_id: str, when: datetime) -> None:
        if self.is_leader():
            self.inner.expire_at(request_id, when)

    def remind_at(self, request_id: str, when: datetime) -> None:
        if self.is_leader():
            self.inner.remind_at(request_id, when)

    def start_at(self, request_id: str, when: datetime) -> None:
        if self.is_leader():
            self.inner.start_at(request_id, when)

    def start_now(self, request_id: str) -> None:
        if self.is_leader():
            self.inner.start_now(request_id)

    def cancel_expiry(self, request_id: str) -> None:
        if self.is_leader():
            self.inner.cancel_expiry(request_id)

    def cancel_all(self, request_id: str) -> None:
        if self.is_leader():
            self.inner.cancel_all(request_id)
