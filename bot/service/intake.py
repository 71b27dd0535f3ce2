"""Taking a request in: who may ask, where, and its preflight (received → pending | blocked)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bot import store
from bot.audit import SYSTEM, Actor
from bot.service.core import Answer, S, log
from bot.service.people import People
from k8s.preflight import PreflightReport
from k8s.spec import MigrationSpec


class Intake(People):
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

    def queue_preflight(self, request_id: str) -> Callable[[], None]:
        """The preflight of a stored request as work for the preflight lane. Until it starts,
        the leader's reconcile knows this replica has it queued and leaves it alone: behind a
        long queue a request waits in `received` longer than STALE_PREFLIGHT, which would
        otherwise pass for one a dead replica left behind."""
        with self._queued_lock:
            self._queued.add(request_id)

        def work() -> None:
            with self._queued_lock:
                self._queued.discard(request_id)
            self.run_preflight(request_id)

        return work

    def preflight_queued(self, request_id: str) -> bool:
        with self._queued_lock:
            return request_id in self._queued

    def run_preflight(self, request_id: str) -> None:
        """received → preflighting → pending | blocked (or failed if the checks crashed). A
        request that moved on meanwhile (cancelled or expired in the queue, or picked up by
        another replica) is left as it is."""
        try:
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
        except store.StaleTransition as e:
            log.info("no preflight for %s: it is %s now", request_id, e.current_state)
            return
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
        try:
            self._preflight_done(request_id, report, dry_run, to, now)
        except store.StaleTransition as e:  # e.g. declared interrupted while it ran
            log.info("the preflight of %s finished after it became %s", request_id, e.current_state)
            return
        self._notify(request_id)

    def _preflight_done(
        self, request_id: str, report: PreflightReport, dry_run: bool, to: S, now: datetime
    ) -> None:
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
