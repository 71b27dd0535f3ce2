"""Faults while a migration runs, injected into the simulator at the moment each step starts.

Checked here: 500s, 429s with Retry-After and read timeouts (a delay longer than the client's
read timeout) at every step are retried to success, each fault actually hit; a permanent 403 or
the step's cluster going down stops the plan at that step with the cluster's message and the
step's recovery hint, runs nothing after it, and the same plan resumes to success once the fault
is gone; a member that is down while the old host unbinds it or the new host joins it ends the
wait with a message naming what did not happen; a create whose answer was lost is not a
failure; and a conflicting workspace created on the target after approval is caught by the
guard, or by KubeSphere's own join check when the guard is skipped.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from plans import DOCUMENTED_STEPS

from k8s.access.transport import ClientSettings
from k8s.executor import MemorySink, StepState
from k8s.plan import Plan, Step
from k8s.retry import Retrier
from k8s.sim import network
from k8s.sim.resources import CLUSTERS, NAMESPACES, WORKSPACES
from k8s.steps import implementation

STEPS = DOCUMENTED_STEPS
TENANT = "/apis/tenant.kubesphere.io"
CLUSTER_API = "/apis/cluster.kubesphere.io/v1alpha1/clusters"
# What each step of `keep ns1,ns2` sends first to its cluster: its write, or for the steps that
# only read in the demo world (KubeFed already removed the Workspace; verify) their key read.
VALIDATION = (
    r"^/api/v1/namespaces/kubesphere-system/services/ks-apiserver:80/proxy/"
    r"kapis/cluster.kubesphere.io/v1alpha1/clusters/validation$"
)
TARGETS: list[tuple[str, str, str]] = [
    ("member-a", "POST", r"^/api/v1/namespaces/kubesphere-system/serviceaccounts$"),
    ("host-b", "POST", VALIDATION),
    ("member-a", "PATCH", r"^/api/v1/namespaces/ns[12]$"),
    ("host-a", "PATCH", rf"^{TENANT}/v1alpha2/workspacetemplates/team-x$"),
    ("member-a", "GET", rf"^{TENANT}/v1alpha1/workspaces/team-x$"),
    ("host-b", "POST", VALIDATION),
    ("host-a", "DELETE", rf"^{CLUSTER_API}/member-a$"),
    ("host-b", "POST", rf"^{CLUSTER_API}$"),
    ("host-b", "POST", rf"^{TENANT}/v1alpha2/workspacetemplates$"),
    ("member-a", "PATCH", r"^/api/v1/namespaces/ns[12]$"),
    ("host-b", "GET", rf"^{CLUSTER_API}/member-a$"),
]
READ_TIMEOUT = 0.3


class RecordingSleep:
    """The client's retry pauses: recorded, and shortened so a Retry-After costs no time."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        time.sleep(min(seconds, 0.05))


class FaultAtStep(MemorySink):
    """Injects `fault(index)` into the step's target cluster when step `index` starts."""

    def __init__(self, rig: Any, fault: Any, steps: set[int] | None = None) -> None:
        super().__init__()
        self.rig, self.fault, self.steps = rig, fault, steps
        self.injected: dict[int, Any] = {}

    def started(self, index: int, step: Step) -> None:
        super().started(index, step)
        if self.steps is None or index in self.steps:
            cluster, method, path = TARGETS[index]
            spec = {"method": method, "path": path, **self.fault(index)}
            self.injected[index] = self.rig.cluster(cluster).add_fault(spec)


def plan_of(rig: Any) -> Plan:
    report = rig.preflight(keep="ns1,ns2")
    assert not report.blocked
    assert [s.kind for s in report.plan.steps] == STEPS
    plan: Plan = report.plan
    return plan


def assert_migrated(rig: Any) -> None:
    rig.settle()
    joined = rig.peek("host-b", CLUSTERS, "member-a")
    assert joined is not None and joined["status"]["uid"] == rig.cluster("member-a").kube_system_uid
    assert rig.peek("host-a", CLUSTERS, "member-a") is None
    ws = rig.peek("member-a", WORKSPACES, "team-x")
    for name in ("ns1", "ns2"):
        ns = rig.peek("member-a", NAMESPACES, name)
        assert ns["metadata"]["labels"]["kubesphere.io/workspace"] == "team-x"
        assert [r["uid"] for r in ns["metadata"]["ownerReferences"]] == [ws["metadata"]["uid"]]


def clear_faults(rig: Any) -> None:
    with rig.world.lock:
        for cluster in rig.world.clusters.values():
            cluster.faults.clear()


# ---- transient faults are retried to success --------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fault", "times"),
    [
        ("500", {"status": 500}, 2),
        ("429", {"status": 429, "retryAfter": 1}, 1),
        ("timeout", {"delay": READ_TIMEOUT * 2}, 1),
    ],
)
def test_transient_faults_at_every_step_are_retried_to_success(
    engine_factory: Any, name: str, fault: dict[str, Any], times: int
) -> None:
    sleeps = RecordingSleep()
    rig = engine_factory(
        client=ClientSettings(timeout=(1.0, READ_TIMEOUT), retrier=Retrier(sleep=sleeps))
    )
    plan = plan_of(rig)
    sink = FaultAtStep(rig, lambda _i: {**fault, "times": times})

    outcome = rig.execute(plan, sink)

    assert outcome.succeeded, (outcome.message, sink.events)
    assert sorted(sink.injected) == list(range(len(STEPS)))
    for index, injected in sink.injected.items():
        assert injected.hits == times, f"step {STEPS[index]}: fault hit {injected.hits} times"
    assert not [e for e in sink.events if e[0] == "failed"]
    if name == "429":
        assert sleeps.calls.count(1.0) == len(STEPS), "Retry-After was not honoured"
    assert_migrated(rig)


def test_a_create_whose_answer_was_lost_is_not_a_failure(engine_factory: Any) -> None:
    """The first POST is applied but its answer never arrives; the retry finds the object."""
    rig = engine_factory(client=ClientSettings(timeout=(1.0, READ_TIMEOUT)))
    plan = plan_of(rig)
    # 1st POST: applied after the client gave up; 2nd: still waiting when the client gives up
    # again; 3rd: answered at once — AlreadyExists, because the 1st one worked
    late = [{"delay": READ_TIMEOUT * 1.5, "times": 1}, {"delay": READ_TIMEOUT * 4, "times": 1}]
    for step in (STEPS.index("join_cluster"), STEPS.index("ensure_workspace")):
        cluster, method, path = TARGETS[step]
        for fault in late:
            rig.cluster(cluster).add_fault({"method": method, "path": path, **fault})
    sink = MemorySink()
    outcome = rig.execute(plan, sink)
    assert outcome.succeeded, (outcome.message, sink.events)
    answers = [
        r.status
        for cluster, r in rig.requests()
        if (cluster, r.method, r.path) == ("host-b", "POST", CLUSTER_API)
    ]
    assert answers.count(201) == 1 and 409 in answers, answers
    assert_migrated(rig)


# ---- permanent faults stop the plan at that step ----------------------------------------------


@pytest.mark.parametrize("k", range(len(STEPS)), ids=STEPS)
def test_a_permanent_403_stops_at_that_step_and_resumes_after_the_fix(engine: Any, k: int) -> None:
    plan = plan_of(engine)
    sink = FaultAtStep(engine, lambda _i: {"status": 403}, steps={k})

    outcome = engine.execute(plan, sink)

    cluster = TARGETS[k][0]
    assert (outcome.succeeded, outcome.failed_step) == (False, k)
    assert outcome.message == f"{cluster}: injected fault: HTTP 403"
    assert outcome.hint == implementation(STEPS[k]).hint(plan.steps[k])
    assert outcome.hint
    assert [i for kind, i, _ in sink.events if kind == "started"] == list(range(k + 1))
    assert sink.states()[k] is StepState.FAILED
    assert sink.events[-1] == ("failed", k, outcome.message)

    clear_faults(engine)
    resumed = MemorySink(sink.states())
    outcome = engine.execute(plan, resumed)
    assert outcome.succeeded, (outcome.message, resumed.events)
    assert [i for kind, i, _ in resumed.events if kind == "started"] == list(range(k, len(STEPS)))
    assert_migrated(engine)


@pytest.mark.parametrize("k", range(len(STEPS)), ids=STEPS)
def test_the_steps_cluster_going_down_stops_at_that_step(engine: Any, k: int) -> None:
    plan = plan_of(engine)
    down = plan.steps[k].cluster

    class DownAtStep(MemorySink):
        def started(self, index: int, step: Step) -> None:
            super().started(index, step)
            if index == k:
                engine.cluster(down).down()

    sink = DownAtStep()
    pauses: list[float] = []
    outcome = engine.executor(plan, sink, sleeps=pauses).run()

    assert (outcome.succeeded, outcome.failed_step) == (False, k)
    assert outcome.message == f"{down} is unreachable (connection refused)"
    assert outcome.hint == implementation(STEPS[k]).hint(plan.steps[k])
    assert pauses == [2.0, 4.0], "the executor did not retry the step before giving up"
    assert [i for kind, i, _ in sink.events if kind == "started"] == list(range(k + 1))

    engine.cluster(down).up()
    engine.settle()
    resumed = MemorySink(sink.states())
    outcome = engine.executor(plan, resumed).run()
    assert outcome.succeeded, (outcome.message, resumed.events)
    assert_migrated(engine)


def test_a_member_down_while_its_old_host_unbinds_it(engine: Any) -> None:
    """KubeSphere 3.4's webhook keeps the Cluster's finalizer while the member is unreachable."""
    plan = plan_of(engine)

    class DownAtUnbind(MemorySink):
        def started(self, index: int, step: Step) -> None:
            super().started(index, step)
            if step.kind == "unbind_cluster":
                engine.cluster("member-a").down()

    sink = DownAtUnbind()
    outcome = engine.executor(plan, sink, wait_timeout=1.0).run()

    assert (outcome.succeeded, outcome.failed_step) == (False, STEPS.index("unbind_cluster"))
    assert outcome.message == (
        "timed out after 1s waiting for host-a to release member-a "
        "(its finalizer needs member-a reachable)"
    )
    assert "KubeSphere 3.4's webhook" in outcome.hint
    stuck = engine.peek("host-a", CLUSTERS, "member-a")
    assert stuck is not None and stuck["metadata"].get("deletionTimestamp")

    engine.cluster("member-a").up()
    outcome = engine.executor(plan, MemorySink(sink.states())).run()
    assert outcome.succeeded, outcome.message
    assert_migrated(engine)


def test_a_member_the_new_host_cannot_reach_while_it_joins(engine: Any) -> None:
    """The bot still reaches member-a; host-b, from where it runs, does not."""
    plan = plan_of(engine)
    member = engine.cluster("member-a")

    class CutAtJoin(MemorySink):
        def started(self, index: int, step: Step) -> None:
            super().started(index, step)
            if step.kind == "join_cluster":
                network.control(engine.world, member, "POST", {"from": "host-b"})

    sink = CutAtJoin()
    outcome = engine.executor(plan, sink, wait_timeout=5.0).run()
    assert (outcome.succeeded, outcome.failed_step) == (False, STEPS.index("join_cluster"))
    # KubeSphere's join fails its pre-check and says so in the Federated condition
    assert outcome.message.startswith(
        "host-b could not join member-a: Cluster can not join federation control plane (Get "
    )
    assert outcome.message.endswith("connect: connection refused)")
    assert "read its conditions" in outcome.hint

    network.control(engine.world, member, "DELETE", {})
    outcome = engine.executor(plan, MemorySink(sink.states())).run()
    assert outcome.succeeded, outcome.message
    posts = engine.writes()
    assert posts[("host-b", "POST", CLUSTER_API)] == 1, "the Cluster was created twice"
    assert_migrated(engine)


# ---- a conflicting workspace appears on the target after approval ------------------------------


def _conflicting_workspace(rig: Any) -> None:
    rig.custom("host-b").create_cluster_custom_object(
        "tenant.kubesphere.io",
        "v1alpha2",
        "workspacetemplates",
        {
            "apiVersion": "tenant.kubesphere.io/v1alpha2",
            "kind": "WorkspaceTemplate",
            "metadata": {"name": "team-y"},
            "spec": {"placement": {"clusters": [{"name": "member-b"}]}},
        },
    )
    rig.settle()


def test_a_conflict_created_after_approval_is_caught_by_the_guard(engine: Any) -> None:
    plan = plan_of(engine)
    _conflicting_workspace(engine)
    engine.clear_requests()
    outcome = engine.execute(plan)
    assert not outcome.succeeded and outcome.failed_step is None
    assert "workspace team-y exists on member-a and on host-b" in outcome.message
    assert not engine.writes(successful=False)


def test_kubesphere_refuses_the_join_when_the_guard_is_skipped(engine: Any) -> None:
    plan = plan_of(engine)
    _conflicting_workspace(engine)
    sink = MemorySink()
    outcome = engine.execute(plan, sink, guard=False)
    assert (outcome.succeeded, outcome.failed_step) == (False, STEPS.index("join_cluster"))
    assert outcome.message == (
        "host-b could not join member-a: Cluster can not join federation control plane (The "
        "workspace team-y is found in the target member cluster member-a, which is conflict "
        "with the workspace on host)"
    )
    assert not [e for e in sink.events if e[1] > STEPS.index("join_cluster")]
