"""Who manages a member: preflight and the fleet views give one answer (`k8s/fleet/claims.py`),
from hand-made facts, without any server.

Checks, each as the preflight report and the fleet query show it: a member claimed by two hosts
under its own name blocks, as `status` calls it an error (preflight used to pick one of them and
pass); a Cluster object under another name that claims the member's kube-system UID binds it
there in both (preflight no longer says "not bound to any host" beside its blocker); a Cluster
object that has not joined yet claims the member by name in both, and preflight blocks instead of
guessing; an unreadable member is matched by name, reported with its host, and still blocks.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from k8s import fleet
from k8s.facts import ClusterFacts, ClusterObjectInfo
from k8s.preflight import Context, PreflightReport, Severity
from k8s.preflight.checks import evaluate
from k8s.spec import MigrationSpec

OK, INFO, WARN, BLOCK = Severity.OK, Severity.INFO, Severity.WARNING, Severity.BLOCKER
SECRET = "aaaaaaaaaaaa"


def host(name: str, *members: tuple[str, str | None]) -> ClusterFacts:
    """A KubeSphere 3.4 host whose Cluster objects claim (object name, kube-system UID)."""
    objects = [ClusterObjectInfo(name, f"ks-{name}", True, "", is_host_itself=True)]
    objects += [
        ClusterObjectInfo(m, uid, uid is not None, "Cluster is available now" if uid else "", False)
        for m, uid in members
    ]
    return ClusterFacts(
        name,
        reachable=True,
        kube_system_uid=f"ks-{name}",
        ks_version="v3.4.1",
        ks_major=3,
        cluster_role="host",
        multicluster_enabled=True,
        jwt_fingerprint=SECRET,
        cluster_objects=tuple(objects),
    )


def member(name: str) -> ClusterFacts:
    return ClusterFacts(
        name,
        reachable=True,
        kube_system_uid=f"ks-{name}",
        ks_version="v3.4.1",
        ks_major=3,
        cluster_role="member",
        cluster_name=name,
        jwt_fingerprint=SECRET,
    )


def world(*clusters: ClusterFacts) -> dict[str, ClusterFacts]:
    return {c.name: c for c in clusters}


def preflight(facts: dict[str, ClusterFacts], m: str, target: str) -> PreflightReport:
    return evaluate(MigrationSpec(m, target), facts)


def lines(report: PreflightReport, check_id: str) -> list[tuple[Severity, str]]:
    return [(r.severity, r.message) for r in report.results if r.id == check_id]


def hosts_in_fleet(facts: dict[str, ClusterFacts], m: str) -> list[str]:
    row = fleet.build_fleet(facts).row(m)
    assert row is not None
    return [b.host for b in row.bindings]


def test_a_member_claimed_by_two_hosts_blocks_as_the_fleet_reports_it() -> None:
    facts = world(
        host("host-a", ("member-a", "ks-member-a")),
        host("host-b"),
        host("host-c", ("member-a", "ks-member-a")),
        member("member-a"),
    )
    bound_twice = [f.text for f in fleet.build_fleet(facts).about("member-a")]
    assert "claimed by 2 hosts (host-a, host-c); a cluster must have one" in bound_twice
    report = preflight(facts, "member-a", "host-b")
    assert lines(report, "current-host") == [
        (
            BLOCK,
            "member-a is claimed by 2 hosts (host-a, host-c); a cluster must have one, and the "
            "bot will not guess which one manages it",
        )
    ]
    assert report.blocked


def test_a_cluster_object_under_another_name_is_where_both_say_the_member_is() -> None:
    # host-a imported member-b under the name member-a (or member-a was rebuilt and member-b
    # took its place): KubeSphere's claim is the UID, so host-a holds member-b, not member-a
    facts = world(
        host("host-a", ("member-a", "ks-member-b")),
        host("host-b"),
        member("member-a"),
        member("member-b"),
    )
    assert hosts_in_fleet(facts, "member-b") == ["host-a"]
    report = preflight(facts, "member-b", "host-b")
    assert lines(report, "uid-unique") == [
        (
            BLOCK,
            "Cluster 'member-a' on host-a claims the same cluster (kube-system UID) as member-b: "
            "the same cluster must not be imported twice",
        )
    ]
    assert not lines(report, "current-host")  # never "not bound to any host"
    assert hosts_in_fleet(facts, "member-a") == []
    other = preflight(facts, "member-a", "host-b")
    assert (OK, "no other Cluster object claims member-a's identity") in lines(other, "uid-unique")
    assert not [r for r in other.results if r.id == "current-host" and r.severity is OK]


def test_a_join_not_finished_on_another_host_is_a_claim_preflight_does_not_guess_about() -> None:
    facts = world(host("host-a", ("member-a", None)), host("host-b"), member("member-a"))
    assert hosts_in_fleet(facts, "member-a") == ["host-a"]
    report = preflight(facts, "member-a", "host-b")
    ((severity, message),) = lines(report, "current-host")
    assert severity is BLOCK
    assert message.startswith("host-a has a Cluster object named member-a that has not joined yet")
    assert report.plan is not None and report.plan.old_host is None  # nothing unbound on a guess
    assert report.blocked


def test_an_unreadable_member_is_placed_by_name_and_still_blocks() -> None:
    down = ClusterFacts("member-a", reachable=False, error="connection refused")
    facts = world(host("host-a", ("member-a", "ks-member-a")), host("host-b"), down)
    assert hosts_in_fleet(facts, "member-a") == ["host-a"]
    report = preflight(facts, "member-a", "host-b")
    assert lines(report, "current-host") == [
        (
            INFO,
            "member-a could not be read, so its kube-system UID cannot be checked; by the name "
            "of their Cluster objects it is bound to host-a",
        )
    ]
    assert [s for s, _ in lines(report, "source-reachable")] == [BLOCK]
    assert report.plan is None and report.blocked


@pytest.mark.parametrize(
    "facts",
    [
        world(host("host-a", ("member-a", "ks-member-a")), host("host-b"), member("member-a")),
        world(
            host("host-a", ("member-a", "ks-member-a")),
            host("host-b", ("member-a-copy", "ks-member-a")),
            host("host-c", ("member-a", None)),
            member("member-a"),
        ),
        world(
            host("host-a", ("member-a", "ks-member-a")),
            host("host-b", ("member-a", "ks-member-a")),
            replace(member("member-a"), reachable=False),
        ),
    ],
    ids=["one-host", "copies-and-a-pending-join", "unreadable"],
)
def test_preflight_reads_the_same_claims_as_the_fleet(facts: dict[str, ClusterFacts]) -> None:
    ctx = Context(MigrationSpec("member-a", "host-b"), facts)
    row = fleet.build_fleet(facts).row("member-a")
    assert row is not None and tuple(ctx.claims()) == row.bindings
