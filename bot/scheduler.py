"""Timed work: expiry, the half-TTL reminder, maintenance windows — held only in memory.

The request rows are the one source of truth for every timer (`expires_at`, `run_at`, and the
`request.reminded` audit event); the leader rebuilds APScheduler's jobs from them when it takes
over (`bot.recovery.recover`) and keeps them in line every tick (`bot.recovery.reconcile`). No
job is ever stored in the database: APScheduler's SQLAlchemy job store keeps pickled Python
objects there, so one written row used to run code inside the leader (issue #12, finding 1).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler

from bot import recovery
from bot.recovery import Timers

if TYPE_CHECKING:
    from bot.runner import Runner
    from bot.service import RequestService

log = logging.getLogger("ksmc.scheduler")

KINDS = ("expire", "remind", "start")


class TimerScheduler:
    """Timers on APScheduler with an in-memory job store (leader only)."""

    def __init__(self) -> None:
        self._sched = BackgroundScheduler(
            jobstores={"default": MemoryJobStore()},
            job_defaults={"coalesce": True, "misfire_grace_time": None, "max_instances": 1},
            timezone=UTC,
        )
        self._service: RequestService | None = None
        self._runner: Runner | None = None
        self._periodic: list[tuple[str, float, Callable[[], object]]] = []

    def bind(self, service: RequestService, runner: Runner) -> None:
        self._service = service
        self._runner = runner

    def every(self, name: str, seconds: float, work: Callable[[], object]) -> None:
        """Run `work` every `seconds` while this replica leads (e.g. the audit anchor)."""
        self._periodic.append((name, seconds, work))

    def start(self, tick: float = 1.0) -> None:
        """Start empty; the first reconcile (at once) rebuilds every timer from the rows."""
        self._sched.start()
        self._sched.add_job(
            self._reconcile,
            "interval",
            seconds=tick,
            id="reconcile",
            replace_existing=True,
            next_run_time=datetime.now(UTC),
        )
        for name, seconds, work in self._periodic:
            self._sched.add_job(
                work,
                "interval",
                seconds=seconds,
                id=name,
                replace_existing=True,
                next_run_time=datetime.now(UTC),
            )

    def _reconcile(self) -> None:
        if self._service is not None:
            self.apply(recovery.reconcile(self._service))

    def apply(self, timers: Timers) -> None:
        """Set the timers the rows call for (`bot.recovery.reconcile`) and drop the rest."""
        self.keep_only(timers.waiting)
        for request_id in timers.start_now:
            self.start_now(request_id)
        for request_id, when in timers.start_at.items():
            if self.has("start", request_id):
                continue
            if when <= timers.now:
                self.start_now(request_id)
            else:
                self.start_at(request_id, when)
        for request_id, when in timers.expire_at.items():
            if not self.has("expire", request_id):
                self.expire_at(request_id, when)
        for request_id, when in timers.remind_at.items():
            if not self.has("remind", request_id):
                self.remind_at(request_id, when)

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
        if self._service is not None:
            self._add("expire", self._service.expire, request_id, when)

    def remind_at(self, request_id: str, when: datetime) -> None:
        if self._service is not None:
            self._add("remind", self._service.remind, request_id, when)

    def start_at(self, request_id: str, when: datetime) -> None:
        if self._runner is not None:
            self._add("start", self._runner.start, request_id, when)

    def start_now(self, request_id: str) -> None:
        if self._runner is not None:
            self._runner.start(request_id)

    def _remove(self, kind: str, request_id: str) -> None:
        with contextlib.suppress(JobLookupError):
            self._sched.remove_job(f"{kind}:{request_id}")

    def keep_only(self, request_ids: set[str]) -> None:
        """Drop the timers of requests that are no longer waiting for one."""
        for job in self._sched.get_jobs():
            kind, _, request_id = job.id.partition(":")
            if kind in KINDS and request_id not in request_ids:
                self._remove(kind, request_id)
