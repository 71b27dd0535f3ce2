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
    ROLLING_BACK = "rolling_back"
    ROLLED_BACK = "rolled_back"
    ROLLBACK_FAILED = "rollback_failed"


#: States in which a request holds its member: no other migration of it may start.
LOCKING: frozenset[RequestState] = frozenset(
    {
        RequestState.APPROVED,
        RequestState.SCHEDULED,
        RequestState.RUNNING,
        RequestState.FAILED,
        RequestState.ROLLING_BACK,
        RequestState.ROLLBACK_FAILED,
    }
)

#: States in which a migration is under way or about to be: approved and not yet over.
IN_FLIGHT: frozenset[RequestState] = frozenset(
    {RequestState.APPROVED, RequestState.SCHEDULED, RequestState.RUNNING}
)

#: States in which a request still waits for approval, and so can expire.
AWAITING: frozenset[RequestState] = frozenset(
    {RequestState.RECEIVED, RequestState.PREFLIGHTING, RequestState.PENDING}
)

#: The step progress rows of a roll back start at this index, after the migration's own rows,
#: so both stay in `step_progress` and a restart resumes either exactly.
ROLLBACK_BASE = 1000


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
    # running: retry (resumes from the step progress rows); abandoned: give up for good;
    # rolling_back: undo what ran, newest first (k8s/rollback.py).
    _S.FAILED: frozenset({_S.RUNNING, _S.ABANDONED, _S.ROLLING_BACK}),
    _S.ROLLING_BACK: frozenset({_S.ROLLED_BACK, _S.ROLLBACK_FAILED}),
    # a failed roll back may be pressed again (it resumes) or abandoned
    _S.ROLLBACK_FAILED: frozenset({_S.ROLLING_BACK, _S.ABANDONED}),
    _S.ROLLED_BACK: frozenset(),
    _S.BLOCKED: frozenset(),
    _S.SUCCEEDED: frozenset(),
    _S.REJECTED: frozenset(),
    _S.CANCELLED: frozenset(),
    _S.EXPIRED: frozenset(),
    _S.ABANDONED: frozenset(),
}

#: States that nothing leaves. `failed` is not terminal: it can be retried, rolled back or
#: abandoned.
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
