"""The request service: every change to a migration request, each one guarded transaction.

Each public method checks who is asking, moves the request with a compare-and-set transition
that writes its audit event in the same transaction, commits, and only then tells the notifier
(Slack, the console). A refusal changes nothing but the audit log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from bot import audit, authority, states, store
from bot.audit import SYSTEM, Actor
from bot.authority import Shown
from bot.db import AuditEvent, Request, utcnow
from bot.engine import Engine
from bot.metrics import MIGRATIONS, ROLLBACKS
from bot.ports import Identity, Notifier, UserInfo
from bot.snapshot import RequestSnapshot
from bot.states import RequestState
from k8s.spec import MigrationSpec

log = logging.getLogger("ksmc.service")
S = RequestState
ACTIVE = (S.RECEIVED, S.PREFLIGHTING, S.PENDING, S.APPROVED, S.SCHEDULED, S.RUNNING)
STALE_PREFLIGHT = timedelta(minutes=2)  # far beyond a preflight's bounded reads
LOCKING = tuple(sorted(states.LOCKING))  # states that hold the member


@dataclass(frozen=True)
class Policy:
    approvers: tuple[str, ...]
    requesters: tuple[str, ...] = ()
    required_approvals: int = 1
    ttl: timedelta = timedelta(minutes=30)
    #: Channels where migrations may be requested (empty: any).
    channels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Answer:
    """What the person who acted should be told (ephemerally)."""

    ok: bool
    message: str
    request_id: str | None = None


class RequestService:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        policy: Policy,
        identity: Identity,
        notifier: Notifier,
        engine: Engine,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.policy = policy
        self.identity = identity
        self.notifier = notifier
        self.engine = engine
        self.clock = clock

    # ---- reading ---------------------------------------------------------------------------

    @contextmanager
    def _tx(self) -> Iterator[Session]:
        with self.sessions() as session, session.begin():
            yield session

    def snapshot(self, request_id: str) -> RequestSnapshot | None:
        with self.sessions() as session:
            row = session.execute(
                select(Request)
                .where(Request.id == request_id)
                .options(selectinload(Request.approvals), selectinload(Request.steps))
            ).scalar_one_or_none()
            return None if row is None else RequestSnapshot.of(row, self.policy.required_approvals)

    def first_time(self, key: str) -> bool:
        """False when this Slack payload (trigger id, event id) was handled before: a replay."""
        if not key:
            return True
        with self.sessions() as session, session.begin():
            return store.mark_seen(session, key[:128])

    def recent(self, limit: int = 10) -> list[RequestSnapshot]:
        with self.sessions() as session:
            rows = session.execute(
                select(Request)
                .order_by(Request.created_at.desc())
                .limit(limit)
                .options(selectinload(Request.approvals), selectinload(Request.steps))
            ).scalars()
            return [RequestSnapshot.of(r, self.policy.required_approvals) for r in rows]

    def busy_members(self, excluding: str | None = None) -> frozenset[str]:
        with self.sessions() as session:
            rows = session.execute(
                select(Request.member).where(
                    Request.state.in_(LOCKING), Request.id != (excluding or "")
                )
            ).scalars()
            return frozenset(rows)

    def who(self, user_id: str) -> tuple[UserInfo | None, Actor]:
        """The Slack user behind an id, and how the audit log names them."""
        person = self.identity.user(user_id)
        return person, Actor(user_id, person.name if person else user_id)

    def _notify(self, request_id: str) -> None:
        snap = self.snapshot(request_id)
        if snap is not None:
            self.notifier.request_changed(snap)

    def set_message_ts(self, request_id: str, ts: str) -> None:
        """Remember which Slack message shows the request (no state change)."""
        with self._tx() as session:
            row = session.get(Request, request_id)
            if row is not None and row.message_ts is None:
                row.message_ts = ts

    # ---- audit-only events -----------------------------------------------------------------

    def audit(
        self,
        action: str,
        actor: Actor,
        team: str,
        channel: str,
        request_id: str | None = None,
        **details: object,
    ) -> None:
        with self._tx() as session:
            audit.append(
                session,
                action=action,
                actor_id=actor.id,
                actor_name=actor.name,
                team_id=team,
                channel_id=channel,
                request_id=request_id,
                details=details,
            )

    # ---- submitting ------------------------------------------------------------------------

    def may_request(self, user_id: str) -> bool:
        """Checked like an approval: a cached "yes" from a requesters group is confirmed."""
        return not self.policy.requesters or self._in(user_id, self.policy.requesters, confirm=True)

    def submit(
        self,
        spec: MigrationSpec,
        *,
        text: str,
        team: str,
        channel: str,
        user: Actor,
        run_at: datetime | None,
        dry_run: bool,
    ) -> Answer:
        """Store a request (state received). The caller runs `preflight` in the background."""
        if self.policy.channels and channel not in self.policy.channels:
            self.audit(
                "request.refused",
                user,
                team,
                channel,
                reason="not a channel where migrations may be requested",
                command=text,
            )
            where = ", ".join(f"<#{c}>" for c in self.policy.channels)
            return Answer(False, f"Migrations can only be requested in {where} (KSMC_CHANNELS).")
        if not self.may_request(user.id):
            self.audit(
                "request.refused",
                user,
                team,
                channel,
                reason="not an allowed requester",
                command=text,
            )
            return Answer(False, "You are not allowed to request migrations (KSMC_REQUESTERS).")
        person = self._eligible(user.id, self.identity.user(user.id))
        if person is None:
            self.audit(
                "request.refused",
                user,
                team,
                channel,
                reason="bots, guests and deactivated users cannot request migrations",
                command=text,
            )
            return Answer(False, "Bots, guests and deactivated users cannot request migrations.")
        now = self.clock()
        with self._tx() as session:
            row = store.create_request(
                session,
                actor=user,
                details={"command": text, "dry_run": dry_run},
                command_text=text,
                command_json=spec.to_json(),
                team_id=team,
                channel_id=channel,
                requester_id=user.id,
                requester_name=user.name,
                expires_at=now + self.policy.ttl,
                run_at=run_at,
                dry_run=dry_run,
                member=spec.member,
                target_host=spec.target_host,
            )
            request_id = row.id
        return Answer(True, f"Request {request_id} received; running preflight checks…", request_id)

    def run_preflight(self, request_id: str) -> None:
        """received → preflighting → pending | blocked (or failed if the checks crashed)."""
        with self._tx() as session:
            row = store.transition(
                session,
                request_id,
                S.RECEIVED,
                S.PREFLIGHTING,
                actor=SYSTEM,
                action="preflight.started",
            )
            spec = MigrationSpec.from_json(row.command_json)
            dry_run = row.dry_run
        self._notify(request_id)
        try:
            report = self.engine.preflight(spec, self.busy_members(excluding=request_id))
        except Exception as e:  # a crash in the checks must not leave the request hanging
            log.exception("preflight of %s crashed", request_id)
            with self._tx() as session:
                store.transition(
                    session,
                    request_id,
                    S.PREFLIGHTING,
                    S.FAILED,
                    actor=SYSTEM,
                    action="preflight.crashed",
                    details={"error": type(e).__name__},
                    # Only the type: an unexpected exception's text can hold anything (a
                    # kubeconfig, a token); the traceback goes to the (filtered) log.
                    error=f"preflight crashed ({type(e).__name__}); the bot's log has details",
                )
            self._notify(request_id)
            return
        blocked = report.blocked or dry_run
        to = S.BLOCKED if blocked else S.PENDING
        now = self.clock()
        with self._tx() as session:
            store.transition(
                session,
                request_id,
                S.PREFLIGHTING,
                to,
                actor=SYSTEM,
                action="preflight.dry_run"
                if dry_run
                else ("preflight.blocked" if report.blocked else "preflight.passed"),
                details={
                    "blockers": [r.id for r in report.results if r.severity == "blocker"],
                    "warnings": [r.id for r in report.results if r.severity == "warning"],
                    "delete": list(report.plan.delete) if report.plan else [],
                    "keep": list(report.plan.keep) if report.plan else [],
                    # what the approvers will see; the executor checks approvals against it
                    "plan": report.plan.digest() if report.plan else None,
                },
                preflight_json=report.to_json(),
                plan_json=report.plan.to_json() if report.plan else None,
                expires_at=now + self.policy.ttl,
            )
        self._notify(request_id)

    # ---- approving -------------------------------------------------------------------------

    def _in(self, user_id: str, allowed: tuple[str, ...], *, confirm: bool = False) -> bool:
        """Whether `user_id` is listed in `allowed` or is in one of its user groups. With
        `confirm`, a membership the cache says yes to is read again from Slack: decisions that
        grant authority never rest on a cached answer (a cached "no" may refuse)."""
        if user_id in allowed:
            return True
        for group in (g for g in allowed if g.startswith("S")):
            if user_id in self.identity.group_members(group) and (
                not confirm or user_id in self.identity.group_members(group, fresh=True)
            ):
                return True
        return False

    def _eligible(self, user_id: str, cached: UserInfo | None) -> UserInfo | None:
        """The user as Slack describes them now, if they may decide: not a bot, a guest or a
        deactivated account. A cached answer may refuse; an allowing one is confirmed."""

        def fit(person: UserInfo | None) -> bool:
            return person is not None and not (person.deleted or person.is_bot or person.is_guest)

        if not fit(cached):
            return None
        now = self.identity.user(user_id, fresh=True)
        return now if fit(now) else None

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

    # ---- ending a request ------------------------------------------------------------------

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

    def eligible_approvers(self, snap: RequestSnapshot) -> tuple[str, ...]:
        """The people who could approve `snap` now: listed directly or through a group, not the
        requester, not already approved, not a bot, guest or deactivated account."""
        done = {a.user_id for a in snap.approvals}
        people: list[str] = []
        for entry in self.policy.approvers:
            members = (
                sorted(self.identity.group_members(entry)) if entry.startswith("S") else [entry]
            )
            people.extend(m for m in members if m not in people)
        out = []
        for user_id in people:
            if user_id == snap.requester_id or user_id in done:
                continue
            person = self.identity.user(user_id)
            if person is not None and not (person.deleted or person.is_bot or person.is_guest):
                out.append(user_id)
        return tuple(out)

    # ---- what the executor checks for itself -----------------------------------------------

    def may_approve_now(self, user_id: str) -> bool:
        person = self.identity.user(user_id)
        return (
            self._in(user_id, self.policy.approvers)
            and person is not None
            and not (person.deleted or person.is_bot or person.is_guest)
        )

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

    # ---- execution transitions (called by the runner) --------------------------------------

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
