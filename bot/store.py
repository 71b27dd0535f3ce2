"""Guarded writes: every state change is one compare-and-set plus its audit event.

The request service, the scheduler and the executor change requests only through these
functions, inside a transaction they own (`with session.begin(): ...`). Two clicks, two replicas
or a click racing the expiry timer therefore cannot both win: the loser gets `StaleTransition`
and nothing it did is committed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot import audit
from bot.audit import Actor
from bot.db import Approval, Request, SeenPayload, new_request_id, utcnow
from bot.states import RequestState, check_transition

#: Request columns a transition may set besides `state` (which it sets) and `version` (which
#: it bumps).
_UPDATABLE = frozenset(Request.__table__.columns.keys()) - {"id", "state", "version", "created_at"}

#: How often `transition` re-reads when only the version moved under it (no expected_version).
_CAS_ATTEMPTS = 3


class StoreError(Exception):
    """Base of the errors a guarded write reports to its caller."""


class RequestNotFound(StoreError, LookupError):
    def __init__(self, request_id: str) -> None:
        super().__init__(f"no request {request_id!r}")
        self.request_id = request_id


class StaleTransition(StoreError):
    """The request was not in an expected state (or version) any more: someone else won."""

    def __init__(
        self,
        request_id: str,
        current_state: RequestState,
        expected: frozenset[RequestState],
        current_version: int,
        expected_version: int | None = None,
    ) -> None:
        wanted = "/".join(sorted(expected))
        detail = f"is {current_state} (v{current_version}), expected {wanted}"
        if expected_version is not None:
            detail += f" at v{expected_version}"
        super().__init__(f"request {request_id} {detail}")
        self.request_id = request_id
        self.current_state = current_state
        self.expected = expected
        self.current_version = current_version
        self.expected_version = expected_version


class DuplicateApproval(StoreError):
    """This approver has already approved this request."""

    def __init__(self, request_id: str, approver_id: str) -> None:
        super().__init__(f"{approver_id} has already approved request {request_id}")
        self.request_id = request_id
        self.approver_id = approver_id


def create_request(
    session: Session,
    *,
    actor: Actor,
    details: Mapping[str, Any] | None = None,
    action: str = "request.received",
    **fields: Any,
) -> Request:
    """Insert a new request in state `received` (version 1) and audit its arrival.

    `fields` are Request columns (command_text, command_json, team_id, channel_id, requester_*,
    expires_at, member, target_host, …); `id` is generated unless given.
    """
    unknown = set(fields) - _UPDATABLE - {"id", "created_at"}
    if unknown:
        raise TypeError(f"not Request columns (or not settable): {sorted(unknown)}")
    request_id = fields.pop("id", None)
    while request_id is None or session.get(Request, request_id) is not None:
        request_id = new_request_id()
    request = Request(id=request_id, state=RequestState.RECEIVED, version=1, **fields)
    session.add(request)
    session.flush()
    audit.append(
        session,
        action=action,
        actor_id=actor.id,
        actor_name=actor.name,
        team_id=request.team_id,
        channel_id=request.channel_id,
        request_id=request.id,
        details={**(details or {}), "to": RequestState.RECEIVED},
    )
    return request


def transition(
    session: Session,
    request_id: str,
    from_states: RequestState | Iterable[RequestState],
    to_state: RequestState,
    *,
    actor: Actor,
    action: str,
    details: Mapping[str, Any] | None = None,
    expected_version: int | None = None,
    **field_updates: Any,
) -> Request:
    """Move a request from one of `from_states` to `to_state`, or raise `StaleTransition`.

    One compare-and-set `UPDATE … WHERE id AND state IN from_states AND version = v`, bumping
    the version, plus the audit event (details get "from" and "to"), in the caller's
    transaction. With `expected_version` (e.g. the version a Slack button was rendered for) any
    intervening change makes it stale; without it, the version read just before is used, and a
    version that moved while the state still qualifies is simply re-read.
    `field_updates` set other Request columns in the same UPDATE. Returns the refreshed row.
    """
    expected = (
        frozenset({from_states})
        if isinstance(from_states, RequestState)
        else frozenset(from_states)
    )
    if not expected:
        raise ValueError("from_states is empty")
    check_transition(expected, to_state)
    unknown = set(field_updates) - _UPDATABLE
    if unknown:
        raise TypeError(f"a transition cannot set {sorted(unknown)}")
    values = {"updated_at": utcnow(), **field_updates}

    # Lock order: the audit chain first, then the row (see audit.lock_chain).
    audit.lock_chain(session)
    for _attempt in range(_CAS_ATTEMPTS):
        current = session.execute(
            select(Request.state, Request.version, Request.team_id, Request.channel_id).where(
                Request.id == request_id
            )
        ).one_or_none()
        if current is None:
            raise RequestNotFound(request_id)
        if current.state not in expected or (
            expected_version is not None and current.version != expected_version
        ):
            raise StaleTransition(
                request_id, current.state, expected, current.version, expected_version
            )
        updated = session.execute(
            update(Request)
            .where(
                Request.id == request_id,
                Request.state.in_(expected),
                Request.version == current.version,
            )
            .values(state=to_state, version=Request.version + 1, **values)
            .returning(Request),
            execution_options={"synchronize_session": False, "populate_existing": True},
        ).scalar_one_or_none()
        if updated is not None:
            break
        # Zero rows: the row moved between the read and the UPDATE. Read again: a changed
        # state (or expected_version) is reported; a mere version bump is retried.
    else:
        latest = session.execute(
            select(Request.state, Request.version).where(Request.id == request_id)
        ).one()
        raise StaleTransition(request_id, latest.state, expected, latest.version, expected_version)

    audit.append(
        session,
        action=action,
        actor_id=actor.id,
        actor_name=actor.name,
        team_id=current.team_id,
        channel_id=current.channel_id,
        request_id=request_id,
        details={**(details or {}), "from": current.state, "to": to_state},
    )
    return updated


def add_approval(
    session: Session, request_id: str, approver_id: str, approver_name: str
) -> Approval:
    """Record one approval, or raise `DuplicateApproval` if this approver already approved.

    Runs in a SAVEPOINT, so the caller's transaction stays usable after a duplicate. It checks
    nothing else (requester ≠ approver, allowed approvers, state): that is the service's
    policy, followed by a `transition` that carries the approver in its audit event.
    """
    try:
        with session.begin_nested():
            approval = Approval(
                request_id=request_id, approver_id=approver_id, approver_name=approver_name
            )
            session.add(approval)
    except IntegrityError as e:
        already = session.execute(
            select(Approval.id).where(
                Approval.request_id == request_id, Approval.approver_id == approver_id
            )
        ).first()
        if already is not None:
            raise DuplicateApproval(request_id, approver_id) from e
        if session.get(Request, request_id) is None:
            raise RequestNotFound(request_id) from e
        raise
    return approval


def mark_seen(session: Session, key: str, *, at: datetime | None = None) -> bool:
    """Remember a Slack payload key; False if it was seen before (a replay or a retry)."""
    try:
        with session.begin_nested():
            session.execute(insert(SeenPayload).values(key=key, seen_at=at or utcnow()))
    except IntegrityError:
        return False
    return True


def forget_seen_before(session: Session, cutoff: datetime) -> int:
    """Drop remembered payload keys older than `cutoff` (older than Slack's replay window)."""
    result = session.execute(
        delete(SeenPayload).where(SeenPayload.seen_at < cutoff).returning(SeenPayload.key)
    )
    return len(result.all())
