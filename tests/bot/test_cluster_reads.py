"""The fleet reads behind the questions (bot/clusters.py) against the simulated demo world:
questions asked at the same moment share one read of each cluster, and an answer never comes
from a read that finished before the question was asked or started longer than the share
window before it."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from waiting import wait_for

from bot.clusters import ClusterReads
from k8s.facts import ClusterFacts
from k8s.registry import ClusterRegistry
from k8s.sim.resources import NAMESPACES

CLUSTERS = ["host-a", "host-b", "member-a", "member-b"]
KUBE_SYSTEM = "/api/v1/namespaces/kube-system"


def reads_of(world: Any, cluster: str) -> int:
    """How many times the cluster was read: every read of its facts gets kube-system once."""
    return sum(1 for r in world.clusters[cluster].requests if r.path == KUBE_SYSTEM)


def test_questions_asked_together_read_each_cluster_once(
    fresh_world: Any, fresh_kubeconfig: Path
) -> None:
    fresh_world.clusters["member-b"].add_fault({"method": "GET", "path": ".*", "delay": 0.3})
    before = {name: reads_of(fresh_world, name) for name in CLUSTERS}
    with ClusterRegistry.from_kubeconfig(fresh_kubeconfig) as registry:
        reads = ClusterReads(registry, timeout=10)
        together = threading.Barrier(4)

        def ask(_: int) -> dict[str, ClusterFacts]:
            together.wait()
            return reads.facts(CLUSTERS)

        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(ask, range(4)))
    for facts in answers:
        assert list(facts) == CLUSTERS
        assert all(f.reachable and f.error is None for f in facts.values()), facts
        assert facts["member-a"].namespace("ns1") is not None
        assert facts["member-b"].cluster_name == "member-b"
    assert {name: reads_of(fresh_world, name) - before[name] for name in CLUSTERS} == {
        name: 1 for name in CLUSTERS
    }


def test_a_question_joins_only_a_read_in_flight_started_within_the_window(
    fresh_world: Any, fresh_kubeconfig: Path
) -> None:
    slow = fresh_world.clusters["member-b"].add_fault({"method": "GET", "path": ".*", "delay": 0.5})
    now = [100.0]
    with (
        ClusterRegistry.from_kubeconfig(fresh_kubeconfig) as registry,
        ThreadPoolExecutor(2) as pool,
    ):
        reads = ClusterReads(registry, timeout=10, share_window=1.0, clock=lambda: now[0])
        first = pool.submit(reads.facts, ["member-b"])
        wait_for(lambda: slow.hits >= 1, 10, "the first read to reach member-b")
        now[0] = 100.9  # within the window: waits for the first read
        assert reads.facts(["member-b"])["member-b"].reachable
        assert first.result(10)["member-b"].reachable
        assert reads_of(fresh_world, "member-b") == 1

        hits = slow.hits
        second = pool.submit(reads.facts, ["member-b"])
        wait_for(lambda: slow.hits > hits, 10, "the second read to reach member-b")
        now[0] = 101.0 + 1.0  # the second read started at 100.9: past the window, read again
        assert reads.facts(["member-b"])["member-b"].reachable
        assert second.result(10)["member-b"].reachable
        assert reads_of(fresh_world, "member-b") == 3


def test_a_question_after_a_read_has_finished_reads_again_and_sees_the_change(
    fresh_world: Any, fresh_kubeconfig: Path
) -> None:
    with ClusterRegistry.from_kubeconfig(fresh_kubeconfig) as registry:
        reads = ClusterReads(registry, timeout=10, clock=lambda: 100.0)  # always "the moment"
        assert reads.facts(["member-a"])["member-a"].namespace("team-new") is None
        with fresh_world.lock:
            fresh_world.clusters["member-a"].store.create(
                NAMESPACES, "", {"metadata": {"name": "team-new"}}
            )
        assert reads.facts(["member-a"])["member-a"].namespace("team-new") is not None
    assert reads_of(fresh_world, "member-a") == 2
