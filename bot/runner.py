"""Runs approved migrations in the background (leader only) and persists their progress.

Nothing runs on the word of the `state` column alone: every start, resume and retry first asks
the service whether the approval evidence (rows and keyed audit events, `bot.authority`)
authorizes this plan, and a Retry first checks that the clusters still look as they did when
the run failed (the world-changed guard for a partly run plan).

Progress goes through `bot.progress.DbProgressSink`: each step's row and audit event are
committed before Slack is told, so after a crash the rows say exactly where the executor was, and
`resume()` continues from there.
"""

from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot import authority, logcontext
from bot.authority import Shown
from bot.db import AuditEvent, Request, StepProgress
from bot.engine import Engine
from bot.ports import Notifier
from bot.progress import DbProgressSink
from bot.service import RequestService
from bot.snapshot import ran_indexes
from bot.states import ROLLBACK_BASE, RequestState
from k8s.executor import Outcome

log = logging.getLogger("ksmc.runner")


class Runner:
    """A small pool of executor threads; each request runs on at most one of them."""

    def __init__(
        self,
        service: RequestService,
        sessions: sessionmaker[Session],
        notifier: Notifier,
        engine: Engine,
        workers: int = 4,
    ) -> None:
        self.service = service
        self.sessions = sessions
        self.notifier = notifier
        self.engine = engine
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ksmc-exec")
        self._active: dict[str, Future[None]] = {}
        self._lock = threading.Lock()

    def start(self, request_id: str) -> bool:
        """approved/scheduled → running, then execute in the background — only if the approval
        evidence authorizes it; a request whose state alone says so is refused and audited."""
        snap = self.service.snapshot(request_id)
        if snap is None or snap.state not in (RequestState.APPROVED, RequestState.SCHEDULED):
            return False
        reason = self.service.execution_refusal(request_id)
        if reason is not None:
            self.service.refuse_execution(request_id, reason)
            return False
        if not self.service.mark_running(request_id):
            return False
        self._submit(request_id)
        return True

    def retry(
        self, request_id: str, user_id: str, team: str, channel: str, shown: Shown | None = None
    ) -> tuple[bool, str]:
        answer = self.service.authorize_operator(request_id, user_id, team, channel, "retry", shown)
        if not answer.ok:
            return False, answer.message
        _person, actor = self.service.who(user_id)
        reason = self._world_changed(request_id) or self.service.execution_refusal(request_id)
        if reason is not None:
            self.service.audit("retry.refused", actor, team, channel, request_id, reason=reason)
            return False, f"Retry refused: {reason}."
        if not self.service.mark_running(request_id, actor=actor, retry=True):
            return False, f"Request {request_id} is no longer failed."
        self._submit(request_id)
        return True, f"Retrying {request_id} from the failed step."

    def roll_back(
        self, request_id: str, user_id: str, team: str, channel: str, shown: Shown | None = None
    ) -> tuple[bool, str]:
        """Roll back a failed migration (or resume a failed roll back): an approver who is not
        the requester, on the message they saw (`RequestService.authorize_operator`)."""
        answer = self.service.authorize_operator(
            request_id, user_id, team, channel, "rollback", shown
        )
        if not answer.ok:
            return False, answer.message
        _person, actor = self.service.who(user_id)
        if not self.service.mark_rolling_back(request_id, actor):
            return False, f"Request {request_id} is no longer failed."
        self._submit(request_id)
        return True, f"Rolling back {request_id}, newest change first."

    def resume(self) -> list[str]:
        """After a restart: continue running executions and roll backs, and start approved
        ones."""
        with self.sessions() as session:
            running = list(
                session.execute(
                    select(Request.id).where(
                        Request.state.in_((RequestState.RUNNING, RequestState.ROLLING_BACK))
                    )
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

    def in_flight(self) -> int:
        """Migrations and roll backs executing on this replica now (the metrics gauge)."""
        with self._lock:
            return sum(not future.done() for future in self._active.values())

    def _world(self, request_id: str) -> str | None:
        """The clusters' fingerprint as a fresh preflight of this request's plan sees them (None
        when they cannot be read)."""
        snap = self.service.snapshot(request_id)
        if snap is None or snap.plan is None:
            return None
        try:
            report = self.engine.preflight(
                snap.plan.spec, self.service.busy_members(excluding=request_id)
            )
        except Exception:
            log.warning("reading the clusters for %s failed", request_id, exc_info=True)
            return None
        return authority.world_fingerprint(report)

    def _world_changed(self, request_id: str) -> str | None:
        """Why a retry must not resume (None: the clusters look as they did at the failure)."""
        with self.sessions() as session:
            details = session.execute(
                select(AuditEvent.details)
                .where(AuditEvent.request_id == request_id)
                .where(AuditEvent.action == "execution.failed")
                .order_by(AuditEvent.id.desc())
                .limit(1)
            ).scalar_one_or_none()
        before = json.loads(details).get("world") if details else None
        if before is None:
            return "the clusters could not be read when it failed, so a change cannot be ruled out"
        now = self._world(request_id)
        if now != before:
            return (
                "the clusters changed since it failed (a fresh preflight differs); abandon it and "
                "request the migration again to see a fresh plan"
            )
        return None

    def _run(self, request_id: str) -> None:
        snap = self.service.snapshot(request_id)
        if snap is not None and snap.state is RequestState.ROLLING_BACK:
            self._run_rollback(request_id)
            return
        if snap is None or snap.state is not RequestState.RUNNING:
            return
        reason = self.service.execution_refusal(request_id)
        if reason is not None:
            self.service.refuse_execution(request_id, reason)
            return
        if snap.plan is None:
            self.service.mark_finished(request_id, False, "the request has no stored plan", {})
            return

        sink = DbProgressSink(self.sessions, self.service, self.notifier, request_id)
        try:
            busy = self.service.busy_members(excluding=request_id)
            with logcontext.bound(request_id, snap.requester_id):
                outcome = self.engine.execute(snap.plan, sink, busy)
        except Exception as e:  # the executor itself broke: record it, never leave it running
            log.exception("execution of %s crashed", request_id)
            outcome = Outcome(
                False,
                None,
                f"the executor crashed: {type(e).__name__}: {e}",
                "press Retry; the executor resumes from the recorded steps",
            )
        details: dict[str, object] = {"failed_step": outcome.failed_step, "hint": outcome.hint}
        if not outcome.succeeded:  # what a Retry compares with (the world-changed guard)
            details["world"] = self._world(request_id)
        self.service.mark_finished(
            request_id,
            outcome.succeeded,
            None
            if outcome.succeeded
            else f"{outcome.message}" + (f" — {outcome.hint}" if outcome.hint else ""),
            details,
        )

    def _run_rollback(self, request_id: str) -> None:
        snap = self.service.snapshot(request_id)
        if snap is None or snap.plan is None:
            return
        with self.sessions() as session:
            ran = ran_indexes(
                session.execute(
                    select(StepProgress).where(StepProgress.request_id == request_id)
                ).scalars()
            )

        sink = DbProgressSink(
            self.sessions, self.service, self.notifier, request_id, offset=ROLLBACK_BASE
        )
        try:
            with logcontext.bound(request_id, snap.requester_id):
                outcome = self.engine.roll_back(snap.plan, ran, sink)
        except Exception as e:
            log.exception("roll back of %s crashed", request_id)
            outcome = Outcome(False, None, f"the roll back crashed: {type(e).__name__}", "")
        self.service.mark_rolled_back(
            request_id,
            outcome.succeeded,
            None
            if outcome.succeeded
            else outcome.message + (f" — {outcome.hint}" if outcome.hint else ""),
            {"failed_undo": outcome.failed_step, "undone": ran},
        )

    def shutdown(self, timeout: float = 0.0) -> bool:
        """Start nothing more (queued runs are dropped: recovery resumes them on the next start)
        and wait up to `timeout` seconds for the runs in flight to finish; False when some are
        still running (an interrupted run is resumed by recovery, like one cut off by a crash)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            running = [future for future in self._active.values() if not future.done()]
        return not wait_futures(running, timeout=timeout).not_done
