"""The executor's progress, recorded: each step's row (`step_progress`) and its audit event are
written in one transaction and committed, and only then is the request's message updated, so
after a crash the rows say exactly where the executor was."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot import audit, metrics
from bot.audit import SYSTEM
from bot.db import Request, StepProgress, utcnow
from bot.ports import Notifier
from bot.service import RequestService
from bot.snapshot import RequestSnapshot
from bot.states import ROLLBACK_BASE
from bot.states import StepState as DbStepState
from k8s.executor import StepState
from k8s.plan import Step


class DbProgressSink:
    """The executor's ProgressSink backed by `step_progress` rows and the audit log."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        service: RequestService,
        notifier: Notifier,
        request_id: str,
        offset: int = 0,
    ) -> None:
        self.sessions = sessions
        self.service = service
        self.notifier = notifier
        self.request_id = request_id
        # a roll back's undo steps live in the same table from ROLLBACK_BASE on; its audit
        # events say "undo" where a migration's say "step"
        self.offset = offset
        self.noun = "undo" if offset else "step"

    def states(self) -> dict[int, StepState]:
        low, high = (self.offset, ROLLBACK_BASE * 2) if self.offset else (0, ROLLBACK_BASE)
        with self.sessions() as session:
            rows = session.execute(
                select(StepProgress.index, StepProgress.state).where(
                    StepProgress.request_id == self.request_id,
                    StepProgress.index >= low,
                    StepProgress.index < high,
                )
            ).all()
        return {index - self.offset: StepState(state.value) for index, state in rows}

    def _write(
        self,
        index: int,
        step: Step,
        state: DbStepState,
        message: str | None,
        action: str,
        **details: object,
    ) -> None:
        row_index = index + self.offset
        with self.sessions() as session, session.begin():
            row = session.execute(
                select(StepProgress).where(
                    StepProgress.request_id == self.request_id, StepProgress.index == row_index
                )
            ).scalar_one_or_none()
            if row is None:
                row = StepProgress(request_id=self.request_id, index=row_index, name=step.kind)
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
            if state is DbStepState.RUNNING:
                metrics.step_started(self.request_id, row_index, step.kind)
            elif row.started_at is not None:
                seconds = (now - row.started_at).total_seconds()
                metrics.step_ended(self.request_id, row_index, step.kind, state.value, seconds)
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
        self._write(index, step, DbStepState.RUNNING, None, f"{self.noun}.started")
        self._changed()

    def progressed(self, index: int, step: Step, message: str) -> None:
        with self.sessions() as session, session.begin():
            row = session.execute(
                select(StepProgress).where(
                    StepProgress.request_id == self.request_id,
                    StepProgress.index == index + self.offset,
                )
            ).scalar_one_or_none()
            if row is not None:
                row.message = message
        self._changed()

    def finished(self, index: int, step: Step, message: str) -> None:
        self._write(
            index, step, DbStepState.DONE, message, f"{self.noun}.finished", summary=message
        )
        self._changed()

    def failed(self, index: int, step: Step, message: str, hint: str) -> None:
        self._write(
            index,
            step,
            DbStepState.FAILED,
            message,
            f"{self.noun}.failed",
            error=message,
            hint=hint,
        )
        latest = self._changed()
        if latest is not None and not self.offset:  # a failed undo: the message says it all
            self.notifier.step_failed(latest, index)

    def _changed(self) -> RequestSnapshot | None:
        """Show the request as the rows now say (after they were committed)."""
        latest = self.service.snapshot(self.request_id)
        if latest is not None:
            self.notifier.request_changed(latest)
        return latest
