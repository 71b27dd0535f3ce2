"""The executor's promises, against the simulator: resumable, never repeating a write, never
continuing past a failure, and refusing to start on a world that changed since approval.

Checked here: for every step k, a crash right after step k (progress persisted, or lost with the
step still recorded as running) and a NEW executor on the stored progress end in the same cluster
state as an uninterrupted run on a fresh world, with no PATCH/POST/DELETE sent to a path more
often than that run sends it (request logs of every cluster); a crash in the middle of the
multi-namespace steps (32 namespaces) and a resume patch each namespace once per step; a
finished plan run again writes nothing; the world-changed guard stops before any write and
names the namespace that appeared; the delete steps' own guard when the check is skipped; and
the retry/stop rules of the executor with stand-in steps (no servers).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from plans import DOCUMENTED_STEPS

from k8s.executor import Executor, MemorySink, StepState
from k8s.plan import Plan, Step
from k8s.sim.resources import NAMESPACES
from k8s.spec import MigrationSpec
from k8s.steps import StepContext, StepError, StepImpl, TemporaryStepError, register

STEPS = DOCUMENTED_STEPS
# KubeFed on host-a removes member-a's Workspace as soon as its placement shrinks; when the
# delete step looks before it has, the step deletes the Workspace itself. Either way once.
RACY = {("member-a", "DELETE", "/apis/tenant.kubesphere.io/v1alpha1/workspaces/team-x")}
BULK = [f"app-{i:02}" for i in range(30)]


class Crash(Exception):
    """Stands for the bot's process dying at that moment."""


class CrashingSink(MemorySink):
    """Dies when step `at` finishes: after recording it (`persisted`) or before."""

    def __init__(self, at: int, persisted: bool) -> None:
        super().__init__()
        self.at, self.persisted = at, persisted

    def finished(self, index: int, step: Step, message: str) -> None:
        if index == self.at and not self.persisted:
            raise Crash(f"after step {index}, before recording it")
        super().finished(index, step, message)
        if index == self.at:
            raise Crash(f"after step {index}")


class CrashOnProgress(MemorySink):
    """Dies on the first progress report of step `at` (in the middle of its writes)."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at = at

    def progressed(self, index: int, step: Step, message: str) -> None:
        super().progressed(index, step, message)
        if index == self.at:
            raise Crash(message)


def writes_without_races(rig: Any) -> Counter[tuple[str, str, str]]:
    counts: Counter[tuple[str, str, str]] = rig.writes()
    for key in RACY:
        counts.pop(key, None)
    return counts


def assert_no_write_repeated(rig: Any, baseline: dict[str, Any]) -> None:
    mine = rig.writes()
    for key in RACY:
        assert mine.get(key, 0) <= 1, f"{key} was sent {mine[key]} times"
    assert writes_without_races(rig) == baseline["writes"]


@pytest.fixture(scope="module")
def baseline(module_engine_factory: Any) -> dict[str, Any]:
    """The uninterrupted run of `keep ns1,ns2` on a fresh demo world: its writes and end state."""
    rig = module_engine_factory()
    report = rig.preflight(keep="ns1,ns2")
    assert not report.blocked
    rig.clear_requests()
    outcome = rig.execute(report.plan)
    assert outcome.succeeded, outcome.message
    writes = writes_without_races(rig)
    assert max(writes.values()) <= 2  # ns1/ns2: unbound once, bound once
    return {"writes": writes, "state": rig.snapshot(), "steps": [s.kind for s in report.plan.steps]}


def test_the_baseline_runs_the_documented_steps(baseline: dict[str, Any]) -> None:
    assert baseline["steps"] == STEPS
    writes = baseline["writes"]
    assert writes[("member-a", "PATCH", "/api/v1/namespaces/ns1")] == 2
    assert writes[("host-b", "POST", "/apis/cluster.kubesphere.io/v1alpha1/clusters")] == 1
    assert (
        writes[("host-a", "DELETE", "/apis/cluster.kubesphere.io/v1alpha1/clusters/member-a")] == 1
    )
    assert baseline["state"]["host-b"]["clusters"]["member-a"] == "member-a"
    assert "member-a" not in baseline["state"]["host-a"]["clusters"]


@pytest.mark.parametrize("persisted", [True, False], ids=["recorded", "lost"])
@pytest.mark.parametrize("k", range(len(STEPS)), ids=STEPS)
def test_a_crash_after_each_step_resumes_without_repeating_a_write(
    engine: Any, baseline: dict[str, Any], k: int, persisted: bool
) -> None:
    report = engine.preflight(keep="ns1,ns2")
    engine.clear_requests()
    crashing = CrashingSink(k, persisted)
    with pytest.raises(Crash):
        engine.execute(report.plan, crashing)
    stored = crashing.states()
    assert stored[k] is (StepState.DONE if persisted else StepState.RUNNING)
    assert max(stored) == k, "the executor went on after the crash"

    resumed = MemorySink(stored)
    outcome = engine.execute(report.plan, resumed)

    assert outcome.succeeded, outcome.message
    started = [i for kind, i, _ in resumed.events if kind == "started"]
    assert started == list(range(k if not persisted else k + 1, len(STEPS)))
    # the host's validation is asked again on purpose: a verdict counts only when it is given
    if not persisted and k < len(STEPS) - 1 and STEPS[k] != "validate_from_host":
        assert ("finished", k, "already done") in resumed.events
    assert engine.snapshot() == baseline["state"]
    assert_no_write_repeated(engine, baseline)


def bulk_world(rig: Any) -> Plan:
    """member-a with 30 more projects in team-x; a plan keeping all 32 of team-x's."""
    for name in BULK:
        rig.create_namespace("member-a", name, **{"kubesphere.io/workspace": "team-x"})
    rig.settle()
    report = rig.preflight(keep=",".join(["ns1", "ns2", *BULK]))
    assert not report.blocked
    assert report.plan is not None and len(report.plan.keep) == 32
    rig.clear_requests()
    plan: Plan = report.plan
    return plan


def namespace_patches(rig: Any) -> dict[str, int]:
    return {
        path.rsplit("/", 1)[1]: count
        for (cluster, method, path), count in rig.writes().items()
        if cluster == "member-a" and method == "PATCH" and path.startswith("/api/v1/namespaces/")
    }


def test_a_failure_in_the_middle_of_unbinding_many_namespaces_resumes_where_it_stopped(
    engine: Any,
) -> None:
    plan = bulk_world(engine)
    engine.cluster("member-a").add_fault(
        {"method": "PATCH", "path": "^/api/v1/namespaces/app-2[0-9]$", "status": 403}
    )
    first = MemorySink()
    outcome = engine.execute(plan, first)
    unbind = STEPS.index("unbind_namespaces")
    assert (outcome.succeeded, outcome.failed_step) == (False, unbind)
    assert "injected fault: HTTP 403" in outcome.message
    assert first.states() == {
        **{i: StepState.DONE for i in range(unbind)},
        unbind: StepState.FAILED,
    }
    unbound = {
        n
        for n in ["ns1", "ns2", *BULK]
        if "kubesphere.io/workspace"
        not in (engine.peek("member-a", NAMESPACES, n)["metadata"].get("labels") or {})
    }
    # the faulted ones stay bound; of the others, those not yet started when the step failed
    # may be left for the resume (the pool drops queued work on an error), and those already
    # in flight finish — which ones depends on thread timing
    faulted = {n for n in BULK if n.startswith("app-2")}
    assert unbound.isdisjoint(faulted) and len(unbound) >= 8

    with engine.world.lock:
        engine.cluster("member-a").faults.clear()
    outcome = engine.execute(plan, MemorySink(first.states()))

    assert outcome.succeeded, outcome.message
    patches = namespace_patches(engine)
    assert patches == {n: 2 for n in ["ns1", "ns2", *BULK]}, "a namespace was patched twice"
    rejected = engine.writes(successful=False) - engine.writes()
    assert sum(rejected.values()) == 10  # one 403 per faulted namespace, nothing re-sent
    for name in ["ns1", "ns2", *BULK]:
        labels = engine.peek("member-a", NAMESPACES, name)["metadata"]["labels"]
        assert labels["kubesphere.io/workspace"] == "team-x"


def test_a_crash_in_the_middle_of_rebinding_many_namespaces_resumes_without_repeats(
    engine: Any,
) -> None:
    plan = bulk_world(engine)
    rebind = STEPS.index("rebind_namespaces")
    crashing = CrashOnProgress(at=rebind)
    with pytest.raises(Crash):
        engine.execute(plan, crashing)
    stored = crashing.states()
    assert stored[rebind] is StepState.RUNNING and max(stored) == rebind

    outcome = engine.execute(plan, MemorySink(stored))

    assert outcome.succeeded, outcome.message
    assert namespace_patches(engine) == {n: 2 for n in ["ns1", "ns2", *BULK]}


def test_a_finished_plan_run_again_writes_nothing(engine: Any) -> None:
    report = engine.preflight(keep="ns1,ns2")
    sink = MemorySink()
    assert engine.execute(report.plan, sink).succeeded
    state = engine.snapshot()

    engine.clear_requests()
    again = MemorySink(sink.states())
    outcome = engine.execute(report.plan, again)
    assert outcome.succeeded
    assert again.events == []
    assert engine.requests() == []

    # without its progress record the guard sees that the world has moved on
    outcome = engine.execute(report.plan, MemorySink())
    assert not outcome.succeeded and outcome.failed_step is None
    assert "member-a is already bound to host-b" in outcome.message
    assert not engine.writes(successful=False)
    assert engine.snapshot() == state


def test_the_guard_stops_before_any_write_and_names_the_new_namespace(engine: Any) -> None:
    report = engine.preflight(keep="ns1,ns2")
    engine.create_namespace("member-a", "late", **{"kubesphere.io/workspace": "team-x"})
    engine.settle()
    before = engine.snapshot()
    engine.clear_requests()
    sink = MemorySink()

    outcome = engine.execute(report.plan, sink)

    assert not outcome.succeeded and outcome.failed_step is None
    assert outcome.message.startswith("the clusters changed since approval")
    assert "late" in outcome.message
    assert "run the migration command again" in outcome.hint
    assert engine.requests(), "the guard read nothing"
    assert not engine.writes(successful=False), "a write reached a cluster"
    assert sink.events == []
    assert engine.snapshot() == before


def test_the_guard_explains_a_plan_that_changed(engine: Any) -> None:
    report = engine.preflight(keep_all=True)
    engine.create_namespace("member-a", "late", **{"kubesphere.io/workspace": "team-y"})
    engine.settle()
    engine.clear_requests()
    outcome = engine.execute(report.plan)
    assert not outcome.succeeded
    assert outcome.message == (
        "the clusters changed since approval: kept namespaces: now also late"
    )
    assert not engine.writes(successful=False)


def test_without_the_guard_the_delete_steps_still_refuse_a_new_namespace(engine: Any) -> None:
    report = engine.preflight(keep="ns1,ns2")
    engine.create_namespace("member-a", "late", **{"kubesphere.io/workspace": "team-x"})
    engine.settle()
    sink = MemorySink()
    outcome = engine.execute(report.plan, sink, guard=False)
    assert (outcome.succeeded, outcome.failed_step) == (False, STEPS.index("remove_placement"))
    assert outcome.message == (
        "namespace(s) late were bound to team-x on member-a after approval and would be deleted; "
        "refusing (run a new preflight)"
    )
    assert "remove member-a from spec.placement.clusters" in outcome.hint
    placement = STEPS.index("remove_placement")
    assert [i for kind, i, _ in sink.events if kind == "started"] == list(range(placement + 1))
    assert engine.peek("member-a", NAMESPACES, "late") is not None
    assert engine.peek("host-a", *_template("team-x"))["spec"]["placement"]["clusters"] == [
        {"name": "member-a"}
    ]


def _template(name: str) -> tuple[Any, str]:
    from k8s.sim.resources import WORKSPACETEMPLATES

    return WORKSPACETEMPLATES, name


# ---- the executor's rules, with stand-in steps ---------------------------------------------------


@register
class Scripted(StepImpl):
    """A stand-in step that plays back `SCRIPT[step.title]`: "done", "ok", "retry", "fail"."""

    kind = "test_scripted"
    SCRIPT: ClassVar[dict[str, list[str]]] = {}
    calls: ClassVar[list[str]] = []

    def is_done(self, ctx: StepContext, step: Step) -> bool:
        return self.SCRIPT[step.title][0] == "done"

    def apply(self, ctx: StepContext, step: Step) -> str:
        action = self.SCRIPT[step.title].pop(0)
        self.calls.append(f"{step.title}:{action}")
        if action == "retry":
            raise TemporaryStepError(f"{step.title} not yet", delay=0.25)
        if action == "fail":
            raise StepError(f"{step.title} is broken")
        return f"{step.title} applied"

    def hint(self, step: Step) -> str:
        return f"look at {step.title}"


@pytest.fixture
def scripted() -> Iterator[dict[str, list[str]]]:
    Scripted.SCRIPT.clear()
    Scripted.calls.clear()
    yield Scripted.SCRIPT


def scripted_executor(titles: list[str], sink: MemorySink, sleeps: list[float], **kw: Any) -> Any:
    steps = tuple(Step("test_scripted", "nowhere", t) for t in titles)
    plan = Plan(MigrationSpec("m", "h"), None, "", {}, (), (), (), (), (), {}, steps)

    def no_api(name: str) -> Any:
        raise AssertionError("stand-in steps use no cluster")

    ctx = StepContext(api=no_api, plan=plan)
    return Executor(ctx, plan, sink, sleep=sleeps.append, **kw)


def test_temporary_errors_are_retried_after_their_delay(scripted: dict[str, list[str]]) -> None:
    scripted.update({"a": ["retry", "retry", "ok"], "b": ["ok"]})
    sink = MemorySink()
    sleeps: list[float] = []
    outcome = scripted_executor(["a", "b"], sink, sleeps).run()
    assert outcome.succeeded
    assert sleeps == [0.25, 0.25]
    assert Scripted.calls == ["a:retry", "a:retry", "a:ok", "b:ok"]
    assert sink.states() == {0: StepState.DONE, 1: StepState.DONE}


def test_the_executor_never_continues_past_a_failed_step(scripted: dict[str, list[str]]) -> None:
    scripted.update({"a": ["ok"], "b": ["retry", "retry", "retry"], "c": ["ok"]})
    sink = MemorySink()
    sleeps: list[float] = []
    outcome = scripted_executor(["a", "b", "c"], sink, sleeps, attempts=3).run()
    assert (outcome.succeeded, outcome.failed_step) == (False, 1)
    assert (outcome.message, outcome.hint) == ("b not yet", "look at b")
    assert sink.states() == {0: StepState.DONE, 1: StepState.FAILED}
    assert ("failed", 1, "b not yet") in sink.events
    assert "c:ok" not in Scripted.calls

    scripted.update({"b": ["fail"]})
    outcome = scripted_executor(["a", "b", "c"], MemorySink(sink.states()), sleeps).run()
    assert (outcome.failed_step, outcome.message) == (1, "b is broken")
    assert Scripted.calls.count("a:ok") == 1, "a step recorded as done ran again"

    scripted.update({"b": ["ok"]})
    resumed = MemorySink(sink.states())
    assert scripted_executor(["a", "b", "c"], resumed, sleeps).run().succeeded
    assert Scripted.calls[-2:] == ["b:ok", "c:ok"]


def test_a_step_already_done_is_not_applied(scripted: dict[str, list[str]]) -> None:
    scripted.update({"a": ["done"]})
    sink = MemorySink()
    assert scripted_executor(["a"], sink, []).run().succeeded
    assert Scripted.calls == []
    assert sink.events == [("started", 0, "a"), ("finished", 0, "already done")]


def test_an_unknown_step_kind_fails_the_step_instead_of_crashing() -> None:
    plan = Plan(
        MigrationSpec("m", "h"), None, "", {}, (), (), (), (), (), {}, (Step("nope", "x", "t"),)
    )
    ctx = StepContext(api=lambda _n: None, plan=plan)  # type: ignore[arg-type,return-value]
    sink = MemorySink()
    outcome = Executor(ctx, plan, sink).run()
    assert (outcome.succeeded, outcome.failed_step) == (False, 0)
    assert outcome.message == "unknown step kind 'nope'"
    assert sink.states() == {0: StepState.FAILED}
