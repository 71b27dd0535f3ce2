"""After a restart and on every leader tick: bring the world of timers and messages back in
line with the database, which is the only source of truth.

`recover` runs once when a replica becomes the leader; `reconcile` runs every second on the
leader, so work accepted by any replica (approvals, windows, expiries, reminders) and work left
behind by a replica that died (a preflight in flight) is picked up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select

from bot import store
from bot.audit import SYSTEM
from bot.db import AuditEvent, Request
from bot.service import ACTIVE, STALE_PREFLIGHT, RequestService
from bot.states import RequestState as S


def recover(service: RequestService, stale: timedelta = STALE_PREFLIGHT) -> None:
    """Finish what a crash interrupted, then make every unfinished message current.

    A preflight counts as interrupted only when it has not moved for `stale`: another
    replica (or this one, just started) may be running it right now.
    """
    with service.sessions() as session:
        rows = session.execute(
            select(Request.id, Request.state, Request.expires_at, Request.updated_at).where(
                Request.state.in_(ACTIVE)
            )
        ).all()
    now = service.clock()
    for request_id, state, expires_at, updated_at in rows:
        if state in (S.RECEIVED, S.PREFLIGHTING) and updated_at > now - stale:
            continue
        if state is S.RECEIVED:
            service.run_preflight(request_id)
            continue
        if state is S.PREFLIGHTING:
            repeat_preflight(service, request_id)
            continue
        if state is S.PENDING and now >= expires_at:
            service.expire(request_id)
            continue
        service._notify(request_id)


def repeat_preflight(service: RequestService, request_id: str) -> None:
    """A preflight interrupted by a crash: back to received, then run it again."""
    with service._tx() as session:
        row = session.get(Request, request_id)
        if row is None or row.state is not S.PREFLIGHTING:
            return
    try:
        with service._tx() as session:
            store.transition(
                session,
                request_id,
                S.PREFLIGHTING,
                S.FAILED,
                actor=SYSTEM,
                action="preflight.interrupted",
                error="the bot restarted during preflight; run the command again",
            )
    except store.StaleTransition:
        return
    service._notify(request_id)


@dataclass
class Timers:
    """The timers the rows call for, as data: the scheduler applies them (`TimerScheduler.apply`),
    so the calls run scheduler → recovery → service and back out, never round again."""

    now: datetime
    #: the requests still waiting for a timer; every other request's timers are dropped
    waiting: set[str] = field(default_factory=set)
    #: approved and due: start it now (the runner's compare-and-set makes a repeat harmless)
    start_now: list[str] = field(default_factory=list)
    #: scheduled: start it at its window, unless a start timer is already set
    start_at: dict[str, datetime] = field(default_factory=dict)
    #: pending: expire it, and remind its approvers once, unless those timers are already set
    expire_at: dict[str, datetime] = field(default_factory=dict)
    remind_at: dict[str, datetime] = field(default_factory=dict)


def reconcile(service: RequestService) -> Timers:
    """The timers that match the database: requests approved, scheduled or pending on any
    replica get their execution, window and expiry/reminder timers from the leader, and the
    timers of requests that moved on are dropped. The service never sets a timer itself: it
    writes the request's row, and this (every second) derives the timers from the rows. What is
    due now without a timer (an expiry, a window to open, a preflight left behind by a replica
    that died) is done here, through the service."""
    now = service.clock()
    with service.sessions() as session:
        rows = session.execute(
            select(Request.id, Request.state, Request.run_at, Request.expires_at).where(
                Request.state.in_((S.PENDING, S.APPROVED, S.SCHEDULED))
            )
        ).all()
        reminded = set(
            session.execute(
                select(AuditEvent.request_id).where(AuditEvent.action == "request.reminded")
            ).scalars()
        )
    timers = Timers(now, waiting={row[0] for row in rows})
    for request_id, state, run_at, expires_at in rows:
        if state is S.APPROVED and (run_at is None or run_at <= now):
            timers.start_now.append(request_id)
        elif state is S.APPROVED:
            service._after_approval(request_id, run_at)  # → scheduled: its window, next tick
        elif state is S.SCHEDULED:
            timers.start_at[request_id] = run_at or now
        elif state is S.PENDING:
            if now >= expires_at:
                service.expire(request_id)
                continue
            timers.expire_at[request_id] = expires_at
            if request_id not in reminded:
                timers.remind_at[request_id] = max(now, expires_at - service.policy.ttl / 2)
    # a replica that died during a preflight leaves its request behind: pick it up
    with service.sessions() as session:
        stale = session.execute(
            select(Request.id, Request.state).where(
                Request.state.in_((S.RECEIVED, S.PREFLIGHTING)),
                Request.updated_at < now - STALE_PREFLIGHT,
            )
        ).all()
    for request_id, stale_state in stale:
        if stale_state is S.RECEIVED:
            if not service.preflight_queued(request_id):  # queued here behind a long queue
                service.run_preflight(request_id)
        else:
            repeat_preflight(service, request_id)
    return timers
