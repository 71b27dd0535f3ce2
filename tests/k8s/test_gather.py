"""Checks `k8s.gather` against the simulator's demo world over real HTTP.

Checked here: the facts of every demo cluster (roles, host switch, kube-system uids, versions,
node counts, components, jwtSecret fingerprints equal for host-a/host-b/member-a and different
for member-b, while no jwtSecret ever appears in the facts); workspaces, templates, federated
workspaces, namespaces and their Workspace owners as seeded; Cluster objects on the hosts
(member-a's uid claim equals its kube-system uid, Ready); users, role bindings and KubeFed
leftovers; a down cluster and an unknown name give `reachable=False` while the others are
read; a slow cluster is cut off at the time budget; reads within one cluster run in parallel;
forbidden nodes and a failing optional read; a KubeSphere 4.x cluster and one without
KubeSphere are read without crashing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from k8s.access.transport import ClientSettings
from k8s.facts import ClusterFacts
from k8s.gather import fingerprint, gather, gather_all
from k8s.registry import ClusterRegistry
from k8s.retry import Retrier, RetryPolicy
from k8s.sim import loader
from k8s.sim.resources import CONFIGMAPS

CLUSTERS = ["host-a", "host-b", "member-a", "member-b"]


def jwt_secret(world: Any, cluster: str) -> str:
    """The jwtSecret as the simulated cluster holds it (read from its store, not the API)."""
    cm = world.clusters[cluster].store.peek(CONFIGMAPS, "kubesphere-system", "kubesphere-config")
    secret = yaml.safe_load(cm["data"]["kubesphere.yaml"])["authentication"]["jwtSecret"]
    assert isinstance(secret, str) and secret
    return secret


@pytest.fixture(scope="module")
def registry(demo_world: Any, kubeconfig_path: Path) -> Iterator[ClusterRegistry]:
    with ClusterRegistry.from_kubeconfig(kubeconfig_path) as reg:
        yield reg


@pytest.fixture(scope="module")
def facts(registry: ClusterRegistry) -> dict[str, ClusterFacts]:
    return gather_all(registry, registry.names(), timeout_per_cluster=10)


# ---- the demo world, as seeded ---------------------------------------------------------------


def test_every_cluster_is_read_completely(facts: dict[str, ClusterFacts]) -> None:
    assert list(facts) == CLUSTERS
    for name, f in facts.items():
        assert (f.name, f.reachable, f.error) == (name, True, None)
        assert (f.ks_version, f.ks_major) == ("v3.4.1", 3)


def test_roles_versions_and_identity(facts: dict[str, ClusterFacts], demo_world: Any) -> None:
    expected = {
        "host-a": ("host", True, None, "v1.26.7", 3),
        "host-b": ("host", True, None, "v1.27.4", 3),
        "member-a": ("member", False, "member-a", "v1.26.7", 4),
        "member-b": ("member", False, "member-b", "v1.27.4", 2),
    }
    for name, (role, enabled, cluster_name, k8s_version, nodes) in expected.items():
        f = facts[name]
        assert (f.cluster_role, f.multicluster_enabled, f.is_host) == (role, enabled, enabled)
        assert f.cluster_name == cluster_name
        assert (f.kubernetes_version, f.node_count) == (k8s_version, nodes)
        assert f.kube_system_uid == demo_world.clusters[name].kube_system_uid
    assert len({f.kube_system_uid for f in facts.values()}) == 4


def test_jwt_fingerprints_compare_secrets_without_holding_them(
    facts: dict[str, ClusterFacts], demo_world: Any
) -> None:
    prints = {name: f.jwt_fingerprint for name, f in facts.items()}
    assert prints["host-a"] == prints["host-b"] == prints["member-a"]
    assert prints["member-b"] != prints["host-a"]
    for name in CLUSTERS:
        secret = jwt_secret(demo_world, name)
        assert prints[name] == fingerprint(secret)
        assert len(prints[name] or "") == 12
        for f in facts.values():
            assert secret not in repr(f)
            assert secret not in str(f.__dict__)


def test_components(facts: dict[str, ClusterFacts]) -> None:
    a, b = facts["host-a"].component_map(), facts["host-b"].component_map()
    member_a, member_b = facts["member-a"].component_map(), facts["member-b"].component_map()
    assert (a["logging"], a["appstore"], a["devops"], a["events"]) == (True, True, False, True)
    assert (b["logging"], b["appstore"], b["devops"]) == (True, True, True)
    assert (member_a["logging"], member_a["events"], member_a["devops"]) == (True, True, False)
    assert (member_b["logging"], member_b["devops"]) == (False, True)
    assert set(a) == {
        *("alerting", "appstore", "auditing", "devops", "edgeruntime", "events", "gateway"),
        *("logging", "metering", "networkpolicy", "notification", "servicemesh"),
    }


def test_member_a_workspaces_and_namespaces(facts: dict[str, ClusterFacts]) -> None:
    member = facts["member-a"]
    team_x, team_y = member.workspace("team-x"), member.workspace("team-y")
    assert team_x is not None and team_y is not None
    assert team_x.kubefed_managed and team_y.kubefed_managed
    assert [ns.name for ns in member.namespaces_in("team-x")] == ["ns1", "ns2"]
    assert [ns.name for ns in member.namespaces_in("team-y")] == ["ns3"]
    for name, ws in (("ns1", team_x), ("ns2", team_x), ("ns3", team_y)):
        ns = member.namespace(name)
        assert ns is not None and ns.uid and ns.resource_version and not ns.deleting
        owner = ns.workspace_owner
        assert owner is not None
        assert (owner.name, owner.uid, owner.controller) == (ws.name, ws.uid, True)
        assert owner.api_version == "tenant.kubesphere.io/v1alpha1"
        assert ns.foreign_owners == ()
    scratch = member.namespace("scratch")
    assert scratch is not None and scratch.workspace is None and scratch.owners == ()
    system = {ns.name for ns in member.namespaces_in("system-workspace")}
    assert system == {"kube-system", "kubesphere-system", "kubesphere-controls-system"}
    # host-created workspaces exist on the member only as Workspace objects (kubesphere.md §4)
    assert member.template("team-x") is None and member.template("system-workspace") is not None


def test_host_a_templates_and_cluster_objects(
    facts: dict[str, ClusterFacts], demo_world: Any
) -> None:
    host = facts["host-a"]
    for ws in ("team-x", "team-y"):
        template = host.template(ws)
        assert template is not None
        assert (template.placement_clusters, template.manager) == (("member-a",), "admin")
    federated = {fw.name: fw.placement_clusters for fw in host.federated_workspaces}
    assert federated["team-x"] == federated["team-y"] == ("member-a",)
    member_a = host.cluster_object("member-a")
    assert member_a is not None
    assert member_a.uid_claimed == demo_world.clusters["member-a"].kube_system_uid
    assert member_a.uid_claimed == facts["member-a"].kube_system_uid
    assert (member_a.ready, member_a.ready_message) == (True, "Cluster is available now")
    assert not member_a.is_host_itself and not member_a.deleting
    assert ("cluster.kubesphere.io/group", "production") in member_a.labels
    itself = host.cluster_object("host-a")
    assert itself is not None and itself.is_host_itself
    assert host.cluster_object("member-b") is None
    member_b = facts["host-b"].cluster_object("member-b")
    assert member_b is not None and member_b.uid_claimed == facts["member-b"].kube_system_uid
    assert facts["member-a"].cluster_objects == ()


def test_accounts_and_leftovers(facts: dict[str, ClusterFacts]) -> None:
    assert facts["host-a"].users == ("admin", "alice-dev", "carol-qa")
    assert facts["host-b"].users == ("admin", "carol-qa")
    bindings = {(rb.workspace, rb.user) for rb in facts["host-a"].role_bindings}
    assert {("team-x", "alice-dev"), ("team-y", "carol-qa")} <= bindings
    assert facts["member-a"].federation_leftovers == (
        "namespace kube-federation-system",
        "serviceaccount kube-federation-system/member-a-kubesphere",
    )
    assert facts["host-a"].federation_leftovers == ()


def test_reads_within_a_cluster_run_in_parallel(fresh_world: Any, fresh_kubeconfig: Path) -> None:
    fresh_world.clusters["member-a"].add_fault({"method": "GET", "path": ".*", "delay": 0.3})
    with ClusterRegistry.from_kubeconfig(fresh_kubeconfig) as reg:
        started = time.monotonic()
        f = gather(reg.api("member-a"))
        elapsed = time.monotonic() - started
    assert f.reachable and f.error is None and f.namespace("ns1") is not None
    assert elapsed < 1.5  # fourteen reads of 0.3 s each would take 4 s one after another


# ---- clusters that cannot be read -----------------------------------------------------------


def test_down_cluster_does_not_hold_up_the_others(fresh_world: Any, fresh_kubeconfig: Path) -> None:
    fresh_world.clusters["member-b"].down()
    with ClusterRegistry.from_kubeconfig(fresh_kubeconfig) as reg:
        started = time.monotonic()
        facts = gather_all(reg, [*CLUSTERS, "nowhere"], timeout_per_cluster=5)
        elapsed = time.monotonic() - started
    assert elapsed < 3
    down = facts["member-b"]
    assert (down.reachable, down.error) == (False, "member-b is unreachable (connection refused)")
    assert down.namespaces == () and down.jwt_fingerprint is None
    unknown = facts["nowhere"]
    assert not unknown.reachable and "known clusters: host-a" in (unknown.error or "")
    for name in ("host-a", "host-b", "member-a"):
        assert facts[name].reachable and facts[name].error is None
    assert facts["member-a"].namespace("ns1") is not None


def test_slow_cluster_is_cut_off_at_the_budget(fresh_world: Any, fresh_kubeconfig: Path) -> None:
    fresh_world.clusters["member-a"].add_fault({"method": "GET", "path": ".*", "delay": 3.0})
    with ClusterRegistry.from_kubeconfig(fresh_kubeconfig) as reg:
        started = time.monotonic()
        facts = gather_all(reg, CLUSTERS, timeout_per_cluster=1.0)
        elapsed = time.monotonic() - started
    assert 1.0 <= elapsed < 1.8
    slow = facts["member-a"]
    assert not slow.reachable
    assert slow.error in ("member-a did not answer within 1s", *_self_reported("member-a"))
    for name in ("host-a", "host-b", "member-b"):
        assert facts[name].reachable and facts[name].error is None


def _self_reported(name: str) -> tuple[str, ...]:
    return (
        f"{name} did not answer in time (read timed out)",
        f"{name} did not answer in time (time budget spent)",
    )


def test_forbidden_nodes_and_a_failing_optional_read(
    fresh_world: Any, fresh_kubeconfig: Path
) -> None:
    member = fresh_world.clusters["member-a"]
    member.add_fault({"method": "GET", "path": "/api/v1/nodes$", "status": 403})
    member.add_fault({"method": "GET", "path": "/users$", "status": 500, "message": "etcd down"})
    quick = ClientSettings(retrier=Retrier(RetryPolicy(base=0.01, max_delay=0.02)))
    with ClusterRegistry.from_kubeconfig(fresh_kubeconfig, settings=quick) as reg:
        f = gather(reg.api("member-a"))
    assert f.reachable and f.node_count is None
    assert f.error == "users: member-a: etcd down"  # incomplete facts say so
    assert f.users == () and f.namespace("ns1") is not None


# ---- other kinds of cluster -----------------------------------------------------------------


def test_kubesphere_4_and_plain_clusters(tmp_path: Path) -> None:
    world_file = tmp_path / "mixed.yaml"
    world_file.write_text(
        yaml.safe_dump(
            {
                "clusters": [
                    {
                        "name": "v4-host",
                        "flavor": "v4",
                        "kubesphere": {"role": "host", "jwtSecret": "v4-jwt-secret-value"},
                    },
                    {"name": "plain", "nodes": 1},
                ]
            }
        )
    )
    kubeconfig = tmp_path / "kubeconfig"
    world = loader.start(str(world_file), kubeconfig=kubeconfig, join_delay=0.05)
    try:
        with ClusterRegistry.from_kubeconfig(kubeconfig) as reg:
            facts = gather_all(reg, reg.names(), timeout_per_cluster=10)
    finally:
        world.stop()
    v4 = facts["v4-host"]
    assert (v4.reachable, v4.error, v4.ks_major, v4.ks_version) == (True, None, 4, "v4.1.3")
    assert (v4.cluster_role, v4.jwt_fingerprint) == ("host", fingerprint("v4-jwt-secret-value"))
    assert v4.is_host  # 4.x: the role string, not `multicluster.enable`, makes a host
    assert v4.workspaces == () and v4.cluster_objects == ()
    assert "v4-jwt-secret-value" not in repr(v4)
    plain = facts["plain"]
    assert (plain.reachable, plain.error, plain.node_count) == (True, None, 1)
    assert (plain.ks_version, plain.ks_major, plain.cluster_role) == (None, None, None)
    assert plain.jwt_fingerprint is None and plain.components == ()
