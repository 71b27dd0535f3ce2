"""The service's shared core: its settings, the transaction helper, reads of stored requests and
audit-only events. The other modules of bot.service add the transitions on top of it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from bot import audit, states, store
from bot.audit import Actor
from bot.db import Request, utcnow
from bot.engine import Engine
from bot.ports import Identity, Notifier
from bot.snapshot import RequestSnapshot
from bot.states import RequestState

log = logging.getLogger("ksmc.service")
S = RequestState
ACTIVE = (S.RECEIVED, S.PREFLIGHTING, S.PENDING, S.APPROVED, S.SCHEDULED, S.RUNNING)
STALE_PREFLIGHT = timedelta(minutes=2)  # far beyond a preflight's bounded reads
LOCKING = tuple(sorted(states.LOCKING))  # states that hold the member
#: How long a Slack payload's key is kept to refuse its replay: past it, Slack can no longer send
#: the payload (a signed request whose timestamp is 5 minutes old is refused, and Slack's last
#: retry of an event comes about 5 minutes after the first try; docs/slack.md).
SEEN_RETENTION = timedelta(hours=1)
#: How often the leader forgets the keys past SEEN_RETENTION.
FORGET_SEEN_EVERY = 600.0


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


class ServiceCore:
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
        self._queued: set[str] = set()  # preflights in this replica's lane, not started yet
        self._queued_lock = threading.Lock()

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

    def forget_old_payloads(self) -> int:
        """Forget the payload keys kept longer than SEEN_RETENTION (the leader runs this every
        FORGET_SEEN_EVERY seconds, so the table holds about an hour of commands and presses
        rather than every one ever made); how many were forgotten."""
        with self._tx() as session:
            forgotten = store.forget_seen_before(session, self.clock() - SEEN_RETENTION)
        if forgotten:
            log.info("forgot %d Slack payload keys older than %s", forgotten, SEEN_RETENTION)
        return forgotten

    def recent(
        self,
        limit: int = 10,
        *,
        team: str | None = None,
        in_states: Iterable[RequestState] | None = None,
    ) -> list[RequestSnapshot]:
        """The newest `limit` requests, of one Slack team and in some states if asked. The
        filters are the database's: a question asked during a burst loads only the rows it
        shows (each snapshot loads the request's approvals and steps too)."""
        query = select(Request)
        if team is not None:
            query = query.where(Request.team_id == team)
        if in_states is not None:
            query = query.where(Request.state.in_(tuple(in_states)))
        with self.sessions() as session:
            rows = session.execute(
                query.order_by(Request.created_at.desc(), Request.id)
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
