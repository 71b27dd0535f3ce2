"""Runs approved migrations in the background (leader only) and persists their progress.

The progress sink writes each step transition and its audit event in one transaction, commits,
and only then lets the notifier update Slack — so after a crash the rows say exactly where the
executor was, and `resume()` continues from there.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot import audit
from bot.audit import SYSTEM
from bot.db import Request, StepProgress, utcnow
from bot.metrics import METRICS
from bot.ports import Notifier
from bot.service import RequestService
from bot.states import RequestState
from bot.states import StepState as DbStepState
from k8s.executor import Outcome, StepState
from k8s.plan import Plan, Step

log = logging.getLogger("ksmc.runner")

Execute = Callable[[Plan, "DbProgressSink", frozenset[str]], Outcome]


class DbProgressSink:
    """The executor's ProgressSink backed by `step_progress` rows and the audit log."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        request_id: str,
        on_change: Callable[[], None],
        on_failure: Callable[[int], None],
    ) -> None:
        self.sessions = sessions
        self.request_id = request_id
        self.on_change = on_change
        self.on_failure = on_failure

    def states(self) -> dict[int, StepState]:
        with self.sessions() as session:
            rows = session.execute(
                select(StepProgress.index, StepProgress.state).where(
                    StepProgress.request_id == self.request_id
                )
            ).all()
        return {index: StepState(state.value) for index, state in rows}

    def _write(
        self,
        index: int,
        step: Step,
        state: DbStepState,
        message: str | None,
        action: str,
        **details: object,
    ) -> None:
        with self.sessions() as session, session.begin():
            row = session.execute(
                select(StepProgress).where(
                    StepProgress.request_id == self.request_id, StepProgress.index == index
                )
            ).scalar_one_or_none()
            if row is None:
                row = StepProgress(request_id=self.request_id, index=index, name=step.kind)
                session.add(row)
            now = utcnow()
            row.state = state
            if state is DbStepState.RUNNING:
                row.attempts = (row.attempts or 0) + 1
                row.started_at = now
                row.finished_at = None
            else:
                row.finished_at = now
            if message is not None:
                row.message = message
            if state is not DbStepState.RUNNING and row.started_at is not None:
                METRICS.observe(
                    "ksmc_step_duration_seconds",
                    "Time spent in each migration step",
                    (now - row.started_at).total_seconds(),
                    kind=step.kind,
                    outcome=state.value,
                )
            req = session.get(Request, self.request_id)
            audit.append(
                session,
                action=action,
                actor_id=SYSTEM.id,
                actor_name=SYSTEM.name,
                team_id=req.team_id if req else "",
                channel_id=req.channel_id if req else "",
                request_id=self.request_id,
                details={"step": index, "kind": step.kind, "cluster": step.cluster, **details},
            )

    def started(self, index: int, step: Step) -> None:
        self._write(index, step, DbStepState.RUNNING, None, "step.started")
        self.on_change()

    def progressed(self, index: int, step: Step, message: str) -> None:
        with self.sessions() as session, session.begin():
            row = session.execute(
                select(StepProgress).where(
                    StepProgress.request_id == self.request_id, StepProgress.index == index
                )
            ).scalar_one_or_none()
            if row is not None:
                row.message = message
        self.on_change()

    def finished(self, index: int, step: Step, message: str) -> None:
        self._write(index, step, DbStepState.DONE, message, "step.finished", summary=message)
        self.on_change()

    def failed(self, index: int, step: Step, message: str, hint: str) -> None:
        self._write(
            index, step, DbStepState.FAILED, message, "step.failed", error=message, hint=hint
        )
        self.on_change()
        self.on_failure(index)


class Runner:
    """A small pool of executor threads; each request runs on at most one of them."""

    def __init__(
        self,
        service: RequestService,
        sessions: sessionmaker[Session],
        notifier: Notifier,
        execute: Execute,
        workers: int = 4,
    ) -> None:
        self.service = service
        self.sessions = sessions
        self.notifier = notifier
        self.execute = execute
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ksmc-exec")
        self._active: dict[str, Future[None]] = {}
        self._lock = threading.Lock()

    def start(self, request_id: str) -> bool:
        """approved/scheduled → running, then execute in the background."""
        if not self.service.mark_running(request_id):
            return False
        self._submit(request_id)
        return True

    def retry(self, request_id: str, user_id: str, team: str, channel: str) -> tuple[bool, str]:
        answer = self.service.authorize_operator(request_id, user_id, team, channel, "retry")
        if not answer.ok:
            return False, answer.message
        _person, actor = self.service.who(user_id)
        if not self.service.mark_running(request_id, actor=actor, retry=True):
            return False, f"Request {request_id} is no longer failed."
        self._submit(request_id)
        return True, f"Retrying {request_id} from the failed step."

    def resume(self) -> list[str]:
        """After a restart: continue running executions and start approved ones."""
        with self.sessions() as session:
            running = list(
                session.execute(
                    select(Request.id).where(Request.state == RequestState.RUNNING)
                ).scalars()
            )
            approved = list(
                session.execute(
                    select(Request.id).where(Request.state == RequestState.APPROVED)
                ).scalars()
            )
        for request_id in running:
            self._submit(request_id)
        for request_id in approved:
            self.start(request_id)
        return running + approved

    def _submit(self, request_id: str) -> None:
        with self._lock:
            current = self._active.get(request_id)
            if current is not None and not current.done():
                return
            self._active[request_id] = self._pool.submit(self._run, request_id)

    def wait(self, request_id: str, timeout: float | None = None) -> None:
        with self._lock:
            future = self._active.get(request_id)
        if future is not None:
            future.result(timeout=timeout)

    def _run(self, request_id: str) -> None:
        snap = self.service.snapshot(request_id)
        if snap is None or snap.state is not RequestState.RUNNING:
            return
        if snap.plan is None:
            self.service.mark_finished(request_id, False, "the request has no stored plan", {})
            return

        def changed() -> None:
            latest = self.service.snapshot(request_id)
            if latest is not None:
                self.notifier.request_changed(latest)

        def failed(index: int) -> None:
            latest = self.service.snapshot(request_id)
            if latest is not None:
                self.notifier.step_failed(latest, index)

        sink = DbProgressSink(self.sessions, request_id, changed, failed)
        try:
            outcome = self.execute(snap.plan, sink, self.service.busy_members(excluding=request_id))
        except Exception as e:  # the executor itself broke: record it, never leave it running
            log.exception("execution of %s crashed", request_id)
            outcome = Outcome(
                False,
                None,
                f"the executor crashed: {type(e).__name__}: {e}",
                "press Retry; the executor resumes from the recorded steps",
            )
        details: dict[str, object] = {"failed_step": outcome.failed_step, "hint": outcome.hint}
        self.service.mark_finished(
            request_id,
            outcome.succeeded,
            None
            if outcome.succeeded
            else f"{outcome.message}" + (f" — {outcome.hint}" if outcome.hint else ""),
            details,
        )

    def shutdown(self, wait: bool = False) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=True)
