"""The people's decisions on a pending request: approve, reject, cancel; and the clock's: expire,
remind."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from bot import audit, authority, store
from bot.audit import SYSTEM
from bot.authority import Shown
from bot.db import AuditEvent
from bot.service.core import Answer, S
from bot.service.people import People
from bot.states import RequestState


class Decisions(People):
    def approve(
        self, request_id: str, user_id: str, team: str, channel: str, shown: Shown | None = None
    ) -> Answer:
        """`shown` is what the pressed button was drawn from; an approval counts only for the
        version and plan the approver saw (None: an internal caller, the current ones)."""
        person, actor = self.who(user_id)
        snap = self.snapshot(request_id)

        def refuse(reason: str) -> Answer:
            self.audit(
                "approval.refused",
                actor,
                team,
                channel,
                request_id if snap else None,
                reason=reason,
                pressed=request_id[:64],
            )
            return Answer(False, f"Approval refused: {reason}.", request_id)

        if snap is None or snap.team_id != team:
            return refuse("no such request in this workspace")
        if user_id == snap.requester_id:
            return refuse("you cannot approve your own request; a second person must")
        if not self._in(user_id, self.policy.approvers, confirm=True):
            return refuse("you are not one of the approvers (KSMC_APPROVERS)")
        person = self._eligible(user_id, person)
        if person is None:
            return refuse("bots, guests and deactivated users cannot approve")
        if snap.state is not S.PENDING:
            return refuse(f"the request is {snap.state.value}, not pending")
        if self.clock() >= snap.expires_at:
            return refuse("the request has expired")
        if any(a.user_id == user_id for a in snap.approvals):
            return refuse("you have already approved it")
        digest = snap.plan.digest() if snap.plan is not None else None
        if shown is not None and not shown.matches(snap.version, digest):
            return refuse(authority.stale_message(snap.version))
        try:
            with self._tx() as session:
                store.add_approval(session, request_id, user_id, actor.name)
                count = len(snap.approvals) + 1
                done = count >= self.policy.required_approvals
                row = store.transition(
                    session,
                    request_id,
                    S.PENDING,
                    S.APPROVED if done else S.PENDING,
                    actor=actor,
                    action="request.approved" if done else "approval.added",
                    details={
                        "approvals": count,
                        "required": self.policy.required_approvals,
                        "real_name": person.real_name,
                        "tz": person.tz,
                        "plan": digest,
                        "version": snap.version,
                    },
                    expected_version=snap.version,
                )
                run_at = row.run_at
        except (store.StaleTransition, store.DuplicateApproval):
            return refuse("someone else acted on this request at the same moment; look again")
        if done:
            self._after_approval(request_id, run_at)
            return Answer(True, f"Approved {request_id}.", request_id)
        self._notify(request_id)
        missing = self.policy.required_approvals - count
        return Answer(True, f"Approval recorded; {missing} more needed.", request_id)

    def _after_approval(self, request_id: str, run_at: datetime | None) -> None:
        if run_at is not None and run_at > self.clock():
            with self._tx() as session:
                store.transition(
                    session,
                    request_id,
                    S.APPROVED,
                    S.SCHEDULED,
                    actor=SYSTEM,
                    action="request.scheduled",
                    details={"run_at": run_at},
                )
        self._notify(request_id)

    def reject(self, request_id: str, user_id: str, team: str, channel: str) -> Answer:
        return self._end(request_id, user_id, team, channel, S.REJECTED, (S.PENDING,), "rejected")

    def cancel(self, request_id: str, user_id: str, team: str, channel: str) -> Answer:
        return self._end(
            request_id,
            user_id,
            team,
            channel,
            S.CANCELLED,
            (S.PENDING, S.APPROVED, S.SCHEDULED),
            "cancelled",
        )

    def _end(
        self,
        request_id: str,
        user_id: str,
        team: str,
        channel: str,
        to: RequestState,
        from_states: tuple[RequestState, ...],
        verb: str,
    ) -> Answer:
        person, actor = self.who(user_id)
        snap = self.snapshot(request_id)
        if snap is None or snap.team_id != team:
            self.audit(f"{verb}.refused", actor, team, channel, reason="no such request")
            return Answer(False, f"There is no request {request_id[:32]} in this workspace.")
        if user_id != snap.requester_id and not (
            self._in(user_id, self.policy.approvers, confirm=True)
            and self._eligible(user_id, person) is not None
        ):
            self.audit(
                f"{verb}.refused",
                actor,
                team,
                channel,
                request_id,
                reason="neither the requester nor an approver",
            )
            return Answer(False, f"Only the requester or an approver can do that ({verb}).")
        try:
            with self._tx() as session:
                store.transition(
                    session, request_id, from_states, to, actor=actor, action=f"request.{verb}"
                )
        except store.StaleTransition as e:
            self.audit(
                f"{verb}.refused",
                actor,
                team,
                channel,
                request_id,
                reason=f"state is {e.current_state}",
            )
            return Answer(False, f"Request {request_id} is {e.current_state}; it cannot be {verb}.")
        self._notify(request_id)
        return Answer(True, f"Request {request_id} {verb}.", request_id)

    def expire(self, request_id: str) -> None:
        snap = self.snapshot(request_id)
        if snap is None or snap.state is not S.PENDING:
            return
        if self.clock() < snap.expires_at:  # a job that fired early: the scheduler sets it again
            return
        try:
            with self._tx() as session:
                store.transition(
                    session,
                    request_id,
                    S.PENDING,
                    S.EXPIRED,
                    actor=SYSTEM,
                    action="request.expired",
                )
        except store.StaleTransition:
            return
        self._notify(request_id)

    def remind(self, request_id: str) -> None:
        snap = self.snapshot(request_id)
        if snap is None or snap.state is not S.PENDING:
            return
        with self._tx() as session:
            already = session.execute(
                select(AuditEvent.id).where(
                    AuditEvent.request_id == request_id,
                    AuditEvent.action == "request.reminded",
                )
            ).first()
            if already is not None:
                return
            audit.append(
                session,
                action="request.reminded",
                actor_id=SYSTEM.id,
                actor_name=SYSTEM.name,
                team_id=snap.team_id,
                channel_id=snap.channel_id,
                request_id=request_id,
                details={},
            )
        self.notifier.remind(snap, self.eligible_approvers(snap))
