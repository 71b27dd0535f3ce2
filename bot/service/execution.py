"""Running an approved request: the executor's own check of the evidence, the runner's
transitions (running, finished, rolling back) and the operators' Retry, Roll back and Abandon."""

from __future__ import annotations

from bot import authority, store
from bot.audit import SYSTEM, Actor
from bot.authority import Shown
from bot.metrics import MIGRATIONS, ROLLBACKS
from bot.service.core import Answer, S, log
from bot.service.people import People
from bot.snapshot import RequestSnapshot


class Execution(People):
    def execution_refusal(self, request_id: str) -> str | None:
        """Why the stored evidence does not authorize running this request (None: it does)."""
        with self.sessions() as session:
            return authority.check_execution(
                session, request_id, self.policy.required_approvals, self.may_approve_now
            )

    def refuse_execution(self, request_id: str, reason: str) -> None:
        """A request the state says may run but the evidence does not authorize: stop it for
        good (approved/scheduled → cancelled, running → failed) and record why."""
        log.error("refusing to run %s: %s", request_id, reason)
        to_state = {S.APPROVED: S.CANCELLED, S.SCHEDULED: S.CANCELLED, S.RUNNING: S.FAILED}
        snap = self.snapshot(request_id)
        if snap is None or snap.state not in to_state:
            return
        try:
            with self._tx() as session:
                store.transition(
                    session,
                    request_id,
                    snap.state,
                    to_state[snap.state],
                    actor=SYSTEM,
                    action="execution.refused",
                    details={"reason": reason},
                    error=f"refused to run: {reason}",
                )
        except store.StaleTransition:
            return
        self._notify(request_id)

    def mark_running(self, request_id: str, actor: Actor = SYSTEM, retry: bool = False) -> bool:
        from_states = (S.FAILED,) if retry else (S.APPROVED, S.SCHEDULED)
        try:
            with self._tx() as session:
                store.transition(
                    session,
                    request_id,
                    from_states,
                    S.RUNNING,
                    actor=actor,
                    action="execution.retried" if retry else "execution.started",
                    error=None,
                )
        except store.StaleTransition:
            return False
        self._notify(request_id)
        return True

    def mark_finished(
        self, request_id: str, ok: bool, error: str | None, details: dict[str, object]
    ) -> None:
        MIGRATIONS.labels("succeeded" if ok else "failed").inc()
        with self._tx() as session:
            store.transition(
                session,
                request_id,
                S.RUNNING,
                S.SUCCEEDED if ok else S.FAILED,
                actor=SYSTEM,
                action="execution.succeeded" if ok else "execution.failed",
                details=details,
                error=error,
            )
        snap = self.snapshot(request_id)
        if snap is not None:
            self.notifier.request_changed(snap)
            self.notifier.finished(snap)

    def authorize_operator(
        self,
        request_id: str,
        user_id: str,
        team: str,
        channel: str,
        verb: str,
        shown: Shown | None = None,
    ) -> Answer:
        """Retry and Abandon: approvers only, and never for another workspace's request. Retry
        is a second approval of a partly run plan: never by the requester, only on the version
        and plan the presser saw, and only within KSMC_APPROVAL_TTL of the failure."""
        person, actor = self.who(user_id)
        snap = self.snapshot(request_id)
        if snap is None or snap.team_id != team:
            self.audit(f"{verb}.refused", actor, team, channel, reason="no such request")
            return Answer(False, "No such request in this workspace.")
        if (
            not self._in(user_id, self.policy.approvers, confirm=True)
            or self._eligible(user_id, person) is None
        ):
            self.audit(
                f"{verb}.refused", actor, team, channel, request_id, reason="not an approver"
            )
            doing = {"rollback": "roll back"}.get(verb, verb)
            return Answer(False, f"Only an approver can {doing} a failed migration.")
        allowed = (S.FAILED,) if verb == "retry" else (S.FAILED, S.ROLLBACK_FAILED)
        if snap.state not in allowed:
            self.audit(
                f"{verb}.refused",
                actor,
                team,
                channel,
                request_id,
                reason=f"state is {snap.state.value}",
            )
            return Answer(False, f"Request {request_id} is {snap.state.value}, not failed.")
        if verb in ("retry", "rollback") and snap.plan is None:
            return Answer(False, f"Request {request_id} never got a plan; run the command again.")
        if verb == "rollback":
            reason = self._rollback_refusal(snap, user_id, shown)
            if reason is not None:
                self.audit("rollback.refused", actor, team, channel, request_id, reason=reason)
                return Answer(False, f"Roll back refused: {reason}.", request_id)
        if verb == "retry":
            reason = self._retry_refusal(snap, user_id, shown)
            if reason is not None:
                self.audit("retry.refused", actor, team, channel, request_id, reason=reason)
                return Answer(False, f"Retry refused: {reason}.", request_id)
        return Answer(True, "", request_id)

    def _rollback_refusal(
        self, snap: RequestSnapshot, user_id: str, shown: Shown | None
    ) -> str | None:
        """A roll back writes to every cluster the migration touched: a second person, as for
        Approve, on the message they saw. No age limit: putting things back is never stale."""
        if user_id == snap.requester_id:
            return "you requested this migration; a second person must roll it back"
        digest = snap.plan.digest() if snap.plan is not None else None
        if shown is not None and not shown.matches(snap.version, digest):
            return authority.stale_message(snap.version)
        return None

    def mark_rolling_back(self, request_id: str, actor: Actor) -> bool:
        try:
            with self._tx() as session:
                store.transition(
                    session,
                    request_id,
                    (S.FAILED, S.ROLLBACK_FAILED),
                    S.ROLLING_BACK,
                    actor=actor,
                    action="rollback.started",
                    error=None,
                )
        except store.StaleTransition:
            return False
        self._notify(request_id)
        return True

    def mark_rolled_back(
        self, request_id: str, ok: bool, error: str | None, details: dict[str, object]
    ) -> None:
        ROLLBACKS.labels("rolled_back" if ok else "failed").inc()
        with self._tx() as session:
            store.transition(
                session,
                request_id,
                S.ROLLING_BACK,
                S.ROLLED_BACK if ok else S.ROLLBACK_FAILED,
                actor=SYSTEM,
                action="rollback.succeeded" if ok else "rollback.failed",
                details=details,
                error=error,
            )
        snap = self.snapshot(request_id)
        if snap is not None:
            self.notifier.request_changed(snap)
            self.notifier.finished(snap)

    def _retry_refusal(
        self, snap: RequestSnapshot, user_id: str, shown: Shown | None
    ) -> str | None:
        if user_id == snap.requester_id:
            return "you requested this migration; a second person must retry it"
        digest = snap.plan.digest() if snap.plan is not None else None
        if shown is not None and not shown.matches(snap.version, digest):
            return authority.stale_message(snap.version)
        if self.clock() >= snap.updated_at + self.policy.ttl:
            return (
                "it failed longer ago than KSMC_APPROVAL_TTL allows a retry; the clusters may "
                "have changed since: abandon it and request the migration again"
            )
        return None

    def abandon(self, request_id: str, user_id: str, team: str, channel: str) -> Answer:
        answer = self.authorize_operator(request_id, user_id, team, channel, "abandon")
        if not answer.ok:
            return answer
        _person, actor = self.who(user_id)
        try:
            with self._tx() as session:
                store.transition(
                    session,
                    request_id,
                    (S.FAILED, S.ROLLBACK_FAILED),
                    S.ABANDONED,
                    actor=actor,
                    action="request.abandoned",
                )
        except store.StaleTransition as e:
            return Answer(False, f"Request {request_id} is {e.current_state}.")
        self._notify(request_id)
        return Answer(True, f"Request {request_id} abandoned.", request_id)
