"""The life cycle of a request, as data.

Every state change in the bot is one guarded database transaction (see `bot.store.transition`);
this table is the single place that says which changes exist, so the service, the scheduler and
the executor cannot invent an arrow that architecture.md does not draw.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum


class RequestState(StrEnum):
    """Where a migration request is in its life. The values are what the database stores."""

    RECEIVED = "received"
    PREFLIGHTING = "preflighting"
    BLOCKED = "blocked"
    PENDING = "pending"
    APPROVED = "approved"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    ABANDONED = "abandoned"


class StepState(StrEnum):
    """Progress of one step of a stored plan."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


_S = RequestState

#: Allowed transitions: state left → states it may go to.
TRANSITIONS: Mapping[RequestState, frozenset[RequestState]] = {
    _S.RECEIVED: frozenset({_S.PREFLIGHTING}),
    # failed: the preflight itself crashed (as opposed to blocked: checks said no).
    _S.PREFLIGHTING: frozenset({_S.BLOCKED, _S.PENDING, _S.FAILED}),
    # pending → pending records one more approval when several are required.
    _S.PENDING: frozenset({_S.PENDING, _S.APPROVED, _S.REJECTED, _S.CANCELLED, _S.EXPIRED}),
    # scheduled: waiting for the maintenance window (`run_at`).
    _S.APPROVED: frozenset({_S.SCHEDULED, _S.RUNNING, _S.CANCELLED}),
    _S.SCHEDULED: frozenset({_S.RUNNING, _S.CANCELLED}),
    _S.RUNNING: frozenset({_S.SUCCEEDED, _S.FAILED}),
    # running: retry (resumes from the step progress rows); abandoned: give up for good.
    _S.FAILED: frozenset({_S.RUNNING, _S.ABANDONED}),
    _S.BLOCKED: frozenset(),
    _S.SUCCEEDED: frozenset(),
    _S.REJECTED: frozenset(),
    _S.CANCELLED: frozenset(),
    _S.EXPIRED: frozenset(),
    _S.ABANDONED: frozenset(),
}

#: States that nothing leaves. `failed` is not terminal: it can be retried or abandoned.
TERMINAL: frozenset[RequestState] = frozenset(s for s, nxt in TRANSITIONS.items() if not nxt)


class IllegalTransition(ValueError):
    """A caller asked for an arrow that the life cycle does not have (a programming error)."""

    def __init__(self, from_state: RequestState, to_state: RequestState) -> None:
        super().__init__(f"a request cannot go from {from_state} to {to_state}")
        self.from_state = from_state
        self.to_state = to_state


def is_terminal(state: RequestState) -> bool:
    """True when no transition leaves `state`."""
    return state in TERMINAL


def can_transition(from_state: RequestState, to_state: RequestState) -> bool:
    return to_state in TRANSITIONS[from_state]


def check_transition(from_states: Iterable[RequestState], to_state: RequestState) -> None:
    """Raise `IllegalTransition` unless every `from_state → to_state` arrow exists."""
    for from_state in from_states:
        if not can_transition(from_state, to_state):
            raise IllegalTransition(from_state, to_state)
