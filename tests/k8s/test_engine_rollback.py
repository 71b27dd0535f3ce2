"""Rolling back a migration that failed part-way, against the faithful simulator.

Checked here: for a permanent fault injected at every step of `keep ns1,ns2`, the migration
stops at that step, and the roll back of everything that ran (the failed step included) ends
with every cluster as it was before the first write — member-a Ready on host-a and gone from
host-b, what host-b's KubeFed pushed at the join (the demo's `shared` workspace) gone again,
team-x back on member-a with ns1 and ns2 bound to it, host-a's placements as they were
(compared on the whole fleet's snapshot) — and with no credential of host-b left on member-a.
A roll back interrupted half-way resumes to the same end; a discarded namespace is said to stay
deleted.
"""

from __future__ import annotations

from typing import Any

import pytest
from test_engine_faults import STEPS, FaultAtStep, clear_faults

from k8s.execution import roll_back
from k8s.executor import MemorySink, StepState
from k8s.migration import EngineSettings
from k8s.plan import Plan
from k8s.rollback import rollback_plan
from k8s.sim.resources import CLUSTERS, SERVICEACCOUNTS


def failed_at(rig: Any, k: int) -> tuple[Plan, dict[int, StepState]]:
    report = rig.preflight(keep="ns1,ns2")
    assert not report.blocked
    plan: Plan = report.plan
    assert [s.kind for s in plan.steps] == STEPS
    sink = FaultAtStep(rig, lambda _i: {"status": 403}, steps={k})
    outcome = rig.execute(plan, sink)
    assert (outcome.succeeded, outcome.failed_step) == (False, k), outcome.message
    clear_faults(rig)
    return plan, sink.states()


def ran(states: dict[int, StepState]) -> list[int]:
    return [i for i, s in states.items() if s in (StepState.DONE, StepState.FAILED)]


def run_rollback(rig: Any, plan: Plan, states: dict[int, StepState], sink: Any = None) -> Any:
    settings = EngineSettings(wait_timeout=20, poll_interval=0.05)
    return roll_back(rig.registry, plan, ran(states), sink or MemorySink(), settings=settings)


def host_b_credential(rig: Any) -> Any:
    return rig.peek("member-a", SERVICEACCOUNTS, "ksmc-host-host-b", "kubesphere-system")


@pytest.mark.parametrize("k", range(len(STEPS)), ids=[f"{i}-{s}" for i, s in enumerate(STEPS)])
def test_a_failure_at_every_step_rolls_back_to_the_fleet_before(engine: Any, k: int) -> None:
    before = engine.snapshot()
    plan, states = failed_at(engine, k)

    sink = MemorySink()
    outcome = run_rollback(engine, plan, states, sink)

    assert outcome.succeeded, (outcome.message, sink.events)
    assert sink.events[-1][2].startswith("member-a is back as it was before the migration")
    assert engine.snapshot() == before
    assert engine.peek("host-b", CLUSTERS, "member-a") is None
    assert host_b_credential(engine) is None


def test_an_interrupted_roll_back_resumes(engine: Any) -> None:
    join = STEPS.index("ensure_workspace")  # joined to host-b, unbound from host-a
    before = engine.snapshot()
    plan, states = failed_at(engine, join)
    undo = rollback_plan(plan, ran(states))
    stop = next(i for i, s in enumerate(undo.steps) if s.kind == "join_cluster")

    class Crash(Exception):
        pass

    class CrashAfter(MemorySink):
        def finished(self, index: int, step: Any, message: str) -> None:
            super().finished(index, step, message)
            if index == stop:
                raise Crash

    crashing = CrashAfter()
    with pytest.raises(Crash):
        run_rollback(engine, plan, states, crashing)
    outcome = run_rollback(engine, plan, states, MemorySink(crashing.states()))
    assert outcome.succeeded, outcome.message
    assert engine.snapshot() == before


def test_what_a_roll_back_undoes_is_named_step_by_step(engine: Any) -> None:
    plan, states = failed_at(engine, STEPS.index("rebind_namespaces"))
    titles = [s.title for s in rollback_plan(plan, ran(states)).steps]
    assert titles == [
        "Unbind ns1, ns2 from the new host's workspace on member-a",
        "Delete workspace team-x on host-b (created by this migration)",
        "Unbind member-a from host-b and revoke its credential",
        "Remove what host-b's KubeFed created on member-a (11 object(s))",
        "Create host-a's own credential on member-a again",
        "Re-join member-a to host-a under the same name",
        "Restore the placement of team-x on host-a",
        "Bind ns1, ns2 to their workspace on member-a again",
        "Revoke host-b's credential on member-a",
        "Verify member-a is back as it was before the first write",
    ]
