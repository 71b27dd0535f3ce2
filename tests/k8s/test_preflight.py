"""Preflight against the simulator: every check is provoked by changing a simulated world over
HTTP with the official client (or by taking a cluster down) and must answer with its verdict and
wording, never with a crash.

Checked here, one test each: source not a member, target not a host, the same cluster twice, an
unreachable source, target or old host, KubeSphere 4.x and no KubeSphere at all, a member already
bound to the target, a kube-system UID claimed by two Cluster objects, the member's name taken on
the target, the jwtSecret (mismatch; sync-jwt), the kept namespaces (missing with a did-you-mean,
system-workspace, multi-cluster projects, foreign ownerReferences), the data-loss guard (keep,
discard, keep all, a stray discard), workspace conflicts, target workspaces created or extended,
components, accounts, federation leftovers, workspaces left behind and the migration lock; and
that a report survives a JSON round trip without carrying any secret.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from waiting import wait_for

from k8s.preflight import CheckResult, PreflightReport, Severity
from k8s.sim.resources import CLUSTERS, NAMESPACES

OK, INFO, WARN, BLOCK = Severity.OK, Severity.INFO, Severity.WARNING, Severity.BLOCKER
MIXED_WORLD = "tests/support/worlds/mixed.yaml"
JWT_B = "Q2hhbmdlTWVQbGVhc2UtbWVtYmVyLWI0"  # member-b's jwtSecret in the demo world


def described(report: PreflightReport) -> str:
    return "\n".join(f"{r.severity.value:8} {r.id}: {r.message}" for r in report.results)


def only(report: PreflightReport, check_id: str, severity: Severity) -> CheckResult:
    """The single result of `check_id` with `severity` (the test fails showing the report)."""
    found = [r for r in report.results if r.id == check_id and r.severity is severity]
    assert len(found) == 1, f"expected one {severity.value} {check_id}:\n{described(report)}"
    return found[0]


def absent(report: PreflightReport, check_id: str, severity: Severity) -> None:
    found = [r for r in report.results if r.id == check_id and r.severity is severity]
    assert not found, f"unexpected {severity.value} {check_id}:\n{described(report)}"


def blockers(report: PreflightReport) -> list[str]:
    return [r.id for r in report.by_severity(BLOCK)]


def cluster_body(rig: Any, name: str, points_at: str) -> dict[str, Any]:
    """A Cluster object as the console creates it on import: a direct connection to a member."""
    kubeconfig = base64.b64encode(rig.member_kubeconfig(points_at)).decode()
    return {
        "apiVersion": "cluster.kubesphere.io/v1alpha1",
        "kind": "Cluster",
        "metadata": {"name": name},
        "spec": {
            "joinFederation": True,
            "provider": "kubesphere",
            "connection": {"type": "direct", "kubeconfig": kubeconfig},
        },
    }


def workspace_template(name: str, *clusters: str) -> dict[str, Any]:
    return {
        "apiVersion": "tenant.kubesphere.io/v1alpha2",
        "kind": "WorkspaceTemplate",
        "metadata": {"name": name},
        "spec": {
            "template": {"spec": {"manager": "admin"}},
            "placement": {"clusters": [{"name": c} for c in clusters]},
        },
    }


@pytest.fixture(scope="module")
def demo(module_engine_factory: Any) -> Iterator[Any]:
    """The demo world, shared by the tests that only read it."""
    rig = module_engine_factory()
    before = rig.all_namespaces()
    yield rig
    assert rig.all_namespaces() == before, "a read-only preflight test changed the world"


# ---- the clean case ---------------------------------------------------------------------------


def test_the_documented_example_passes_with_its_warnings(demo: Any) -> None:
    report = demo.preflight(keep="ns1,ns2")
    assert not report.blocked, described(report)
    assert report.plan is not None and report.plan.keep == ("ns1", "ns2")
    for check_id in (
        "source-reachable",
        "target-reachable",
        "source-version",
        "target-version",
        "source-role",
        "target-role",
        "current-host",
        "uid-unique",
        "name-free",
        "jwt-secret",
        "kept-namespaces",
        "data-loss",
    ):
        only(report, check_id, OK)
    assert "bound to host-a" in only(report, "current-host", OK).message


VALIDATION = (
    "/api/v1/namespaces/kubesphere-system/services/ks-apiserver:80/proxy/"
    "kapis/cluster.kubesphere.io/v1alpha1/clusters/validation"
)


def test_preflight_writes_nothing(engine: Any) -> None:
    """Its one POST asks the new host's ks-apiserver a question (import validation), which
    changes nothing anywhere; every other request is a read."""
    engine.clear_requests()
    report = engine.preflight(keep="ns1,ns2")
    assert not engine.writes(successful=False)
    asked = [(n, r.method, r.path) for n, r in engine.requests() if r.path == VALIDATION]
    assert asked == [("host-b", "POST", VALIDATION)]
    assert engine.requests(), "preflight read nothing"
    result = only(report, "host-validation", OK)
    assert "host-b reaches its API server" in result.message


# ---- cluster checks ---------------------------------------------------------------------------


def test_a_host_is_never_the_source(demo: Any) -> None:
    report = demo.preflight("host-a", "host-b")
    result = only(report, "source-role", BLOCK)
    assert "host-a is a host cluster; a host is never turned into a member" in result.message


def test_a_source_whose_role_is_none_is_refused(engine: Any) -> None:
    engine.custom("member-a").patch_namespaced_custom_object(
        "installer.kubesphere.io",
        "v1alpha1",
        "kubesphere-system",
        "clusterconfigurations",
        "ks-installer",
        {"spec": {"multicluster": {"clusterRole": "none"}}},
    )
    engine.settle()
    result = only(engine.preflight(keep="ns1,ns2"), "source-role", BLOCK)
    assert "member-a has clusterRole none, not member" in result.message
    assert "multicluster.clusterRole: member" in result.remedy


def test_the_target_must_be_a_host(demo: Any) -> None:
    report = demo.preflight("member-a", "member-b", keep="ns1,ns2")
    result = only(report, "target-role", BLOCK)
    assert "member-b is not a host cluster" in result.message
    assert result.remedy == "pick a host cluster as the target"


def test_a_cluster_cannot_move_to_itself(demo: Any) -> None:
    report = demo.preflight("member-a", "member-a")
    result = only(report, "distinct-clusters", BLOCK)
    assert result.message == "member-a cannot be migrated to itself"
    assert report.blocked


@pytest.mark.parametrize(
    ("down", "member", "target", "check_id"),
    [
        ("member-a", "member-a", "host-b", "source-reachable"),
        ("host-b", "member-a", "host-b", "target-reachable"),
    ],
)
def test_an_unreachable_source_or_target_blocks(
    engine: Any, down: str, member: str, target: str, check_id: str
) -> None:
    engine.cluster(down).down()
    report = engine.preflight(member, target, keep="ns1,ns2")
    result = only(report, check_id, BLOCK)
    assert f"{down} is not reachable" in result.message
    assert "connection refused" in result.message
    assert report.plan is None and report.blocked
    assert down in report.cluster_errors


def test_an_unreachable_old_host_blocks(engine: Any) -> None:
    engine.cluster("host-a").down()
    report = engine.preflight(keep="ns1,ns2")
    result = only(report, "current-host", BLOCK)
    assert "no reachable host has a Cluster object for member-a" in result.message
    assert "host-a could not be read" in result.message
    assert report.blocked


def test_a_member_with_another_hosts_marks_and_no_claimant_is_blocked(engine: Any) -> None:
    """KubeSphere's unbind leaves clusterName and the kubefed-managed copies behind, which look
    exactly like a host the bot cannot see still managing the member: that blocks (#11)."""

    world = engine.world
    host_a = world.clusters["host-a"]
    with world.lock:
        host_a.store.delete(CLUSTERS, "", "member-a")
    assert world.settle(10)
    report = engine.preflight(keep="ns1,ns2")
    result = only(report, "managed-elsewhere", BLOCK)
    assert "kubesphere-config names it 'member-a'" in result.message
    assert "kubefed-managed workspace(s) team-x, team-y" in result.message
    assert "remove the kubefed-managed leftovers" in result.remedy
    assert report.blocked


@pytest.mark.parametrize(
    ("member", "target", "check_id", "v4"),
    [
        ("member-a", "host-v4", "target-version", "host-v4"),
        ("member-v4", "host-a", "source-version", "member-v4"),
    ],
)
def test_kubesphere_4_is_refused_not_crashed_on(
    engine_factory: Any, member: str, target: str, check_id: str, v4: str
) -> None:
    rig = engine_factory(MIXED_WORLD)
    report = rig.preflight(member, target)
    result = only(report, check_id, BLOCK)
    assert "KubeSphere 4.x is not supported for migration yet" in result.message
    assert result.message.startswith(f"{v4} runs KubeSphere v4")
    assert report.blocked


@pytest.mark.parametrize(
    ("member", "target", "check_id"),
    [("member-a", "bare", "target-version"), ("bare", "host-a", "source-version")],
)
def test_a_cluster_without_kubesphere_is_refused(
    engine_factory: Any, member: str, target: str, check_id: str
) -> None:
    rig = engine_factory(MIXED_WORLD)
    result = only(rig.preflight(member, target), check_id, BLOCK)
    assert result.message == "KubeSphere is not installed on bare (no kubesphere-config)"


def test_a_member_already_bound_to_the_target(demo: Any) -> None:
    result = only(demo.preflight("member-b", "host-b"), "not-already-bound", BLOCK)
    assert result.message == "member-b is already bound to host-b; there is nothing to migrate"


def test_the_same_cluster_imported_twice_blocks(engine: Any) -> None:
    engine.custom("host-b").create_cluster_custom_object(
        "cluster.kubesphere.io",
        "v1alpha1",
        "clusters",
        cluster_body(engine, "member-a-copy", points_at="member-a"),
    )
    # no settle: joined to two hosts, member-a is fought over by both KubeFeds (each adopts
    # what the other labels) and never goes quiet, as on a real fleet; wait for the claim only
    uid = engine.cluster("member-a").kube_system_uid

    def claimed() -> bool:
        copy = engine.peek("host-b", CLUSTERS, "member-a-copy") or {}
        return bool((copy.get("status") or {}).get("uid") == uid)

    wait_for(claimed, what="host-b to claim member-a as member-a-copy")
    result = only(engine.preflight(keep="ns1,ns2"), "uid-unique", BLOCK)
    assert "Cluster 'member-a-copy' on host-b claims the same cluster" in result.message
    assert "must not be imported twice" in result.message
    assert result.remedy == "on host-b: kubectl delete clusters.cluster.kubesphere.io member-a-copy"


def test_the_name_taken_on_the_target_blocks(engine: Any) -> None:
    engine.custom("host-b").create_cluster_custom_object(
        "cluster.kubesphere.io",
        "v1alpha1",
        "clusters",
        cluster_body(engine, "member-a", points_at="member-b"),
    )
    # no settle: host-b keeps retrying that join (member-b's workspace qa conflicts), as
    # KubeSphere would; the name is taken from the moment the object exists
    report = engine.preflight(keep="ns1,ns2")
    result = only(report, "name-free", BLOCK)
    assert result.message == "host-b already has a Cluster named member-a for a different cluster"
    absent(report, "not-already-bound", BLOCK)


def test_a_jwt_secret_mismatch_blocks_without_showing_the_secret(demo: Any) -> None:
    report = demo.preflight("member-b", "host-a", keep="qa-env")
    result = only(report, "jwt-secret", BLOCK)
    assert "member-b's jwtSecret (fingerprint" in result.message
    assert "differs from host-a's" in result.message
    assert "sync-jwt" in result.remedy
    assert JWT_B not in json.dumps(report.to_json())


def test_sync_jwt_turns_the_mismatch_into_a_warning_and_a_step(demo: Any) -> None:
    report = demo.preflight("member-b", "host-a", keep="qa-env", sync_jwt=True)
    result = only(report, "jwt-secret", WARN)
    assert "sync-jwt will set it before the join" in result.message
    assert not report.blocked, described(report)
    assert report.plan is not None
    kinds = [s.kind for s in report.plan.steps]
    # set before the host's second validation, so that one sees the secrets aligned
    assert kinds.index("sync_jwt") == kinds.index("unbind_cluster") - 2
    assert kinds[kinds.index("sync_jwt") + 1] == "validate_from_host"
    step = report.plan.steps[kinds.index("sync_jwt")]
    # member-b's own secret was not its old host's: a roll back could not re-derive it
    assert (step.cluster, step.params) == (
        "member-b",
        {"from_host": "host-a", "restore_from": None},
    )
    assert JWT_B not in json.dumps(report.to_json())


def test_matching_jwt_secrets_need_no_step(demo: Any) -> None:
    report = demo.preflight(keep="ns1,ns2")
    assert "share the jwtSecret" in only(report, "jwt-secret", OK).message
    assert report.plan is not None and "sync_jwt" not in [s.kind for s in report.plan.steps]


def test_the_lock_blocks_a_second_migration_of_the_member(demo: Any) -> None:
    report = demo.preflight(keep="ns1,ns2", busy={"member-a"})
    result = only(report, "lock", BLOCK)
    assert result.message == "another migration of member-a is already approved or running"
    assert blockers(report) == ["lock"]
    absent(demo.preflight(keep="ns1,ns2", busy={"member-b"}), "lock", BLOCK)


# ---- the kept namespaces ----------------------------------------------------------------------


def test_a_missing_kept_namespace_gets_a_did_you_mean(demo: Any) -> None:
    report = demo.preflight(keep="ns1,ns-2")
    result = only(report, "kept-namespaces", BLOCK)
    assert result.message == "namespace ns-2 does not exist on member-a — did you mean ns2?"


def test_a_system_workspace_namespace_never_moves(demo: Any) -> None:
    report = demo.preflight(keep="ns1,ns2,kubesphere-system")
    result = only(report, "kept-namespaces", BLOCK)
    assert "kubesphere-system belongs to system-workspace, which never moves" in result.message


def test_a_multi_cluster_project_is_warned_about(engine: Any) -> None:
    """A multi-cluster project as the console makes one: a namespace on host-a and its
    FederatedNamespace, which host-a's KubeFed pushes to member-a labelled managed."""
    engine.create_namespace("host-a", "fed-proj", **{"kubesphere.io/workspace": "team-x"})
    engine.custom("host-a").create_namespaced_custom_object(
        "types.kubefed.io",
        "v1beta1",
        "fed-proj",
        "federatednamespaces",
        {
            "apiVersion": "types.kubefed.io/v1beta1",
            "kind": "FederatedNamespace",
            "metadata": {"name": "fed-proj", "namespace": "fed-proj"},
            "spec": {
                "template": {"metadata": {"labels": {"kubesphere.io/workspace": "team-x"}}},
                "placement": {"clusters": [{"name": "member-a"}]},
            },
        },
    )
    engine.settle()
    pushed = engine.peek("member-a", NAMESPACES, "fed-proj")
    assert pushed is not None and pushed["metadata"]["labels"]["kubefed.io/managed"] == "true"
    report = engine.preflight(keep="ns1,ns2,fed-proj")
    result = only(report, "kept-namespaces", WARN)
    assert "fed-proj is a multi-cluster project (kubefed.io/managed=true)" in result.message


def test_foreign_owner_references_are_warned_about(engine: Any) -> None:
    core = engine.core("member-a")
    node = core.read_node("member-a-node-1")
    ns = json.loads(core.read_namespace("ns1", _preload_content=False).data)  # as JSON
    refs = ns["metadata"]["ownerReferences"]
    assert [r["kind"] for r in refs] == ["Workspace"]
    node_ref = {"apiVersion": "v1", "kind": "Node", "name": "member-a-node-1"}
    refs.append({**node_ref, "uid": node.metadata.uid})
    core.patch_namespace(
        "ns1",
        {"metadata": {"ownerReferences": refs}},
        _content_type="application/merge-patch+json",
    )
    engine.settle()
    report = engine.preflight(keep="ns1,ns2")
    result = only(report, "kept-namespaces", WARN)
    assert result.message == (
        "namespace ns1 has other owners (Node/member-a-node-1); garbage collection follows them"
    )


# ---- the data-loss guard ----------------------------------------------------------------------


def test_deleting_an_unkept_namespace_blocks_and_names_it(demo: Any) -> None:
    report = demo.preflight(keep="ns1")
    result = only(report, "data-loss", BLOCK)
    assert result.message == (
        "deleting workspace(s) team-x on member-a would also delete namespace(s) ns2"
    )
    assert "discard ns2" in result.remedy and "keep all" in result.remedy
    assert report.plan is not None and report.plan.delete == ("ns2",)


def test_discard_confirms_the_deletion_and_the_plan_deletes_it(demo: Any) -> None:
    report = demo.preflight(keep="ns1", discard="ns2")
    result = only(report, "data-loss", WARN)
    assert "ns2 will be DELETED with their workspace, as requested" in result.message
    assert not report.blocked, described(report)
    plan = report.plan
    assert plan is not None
    assert (plan.keep, plan.delete) == (("ns1",), ("ns2",))
    assert "ns2" not in plan.untouched
    step = next(s for s in plan.steps if s.kind == "delete_workspaces")
    assert step.params == {"workspaces": ["team-x"], "discard": ["ns2"]}
    assert "(and with it ns2)" in step.title


def test_keep_all_keeps_every_project_of_every_moving_workspace(demo: Any) -> None:
    report = demo.preflight(keep_all=True)
    assert not report.blocked, described(report)
    plan = report.plan
    assert plan is not None
    assert plan.keep == ("ns1", "ns2", "ns3")
    assert plan.delete == ()
    assert plan.moving_workspaces == {"team-x": "team-x", "team-y": "team-y"}
    assert only(report, "data-loss", OK).message == "no namespace will be deleted"
    absent(report, "left-behind", WARN)
    assert "scratch" in plan.untouched and "kube-system" in plan.untouched


def test_a_discard_of_something_not_deleted_blocks(demo: Any) -> None:
    report = demo.preflight(keep="ns1", discard="ns2,scratch")
    result = only(report, "data-loss", BLOCK)
    assert result.message == "discard names scratch, which the plan would not delete"


def test_workspaces_left_behind_are_warned_about(demo: Any) -> None:
    result = only(demo.preflight(keep="ns1,ns2"), "left-behind", WARN)
    assert result.message == (
        "workspace team-y (projects: ns3) stays on member-a but no host will manage it after "
        "the move"
    )


# ---- the target host --------------------------------------------------------------------------


def test_a_workspace_conflict_on_the_target_blocks_unless_it_moves(engine: Any) -> None:
    engine.custom("host-b").create_cluster_custom_object(
        "tenant.kubesphere.io",
        "v1alpha2",
        "workspacetemplates",
        workspace_template("team-y", "member-b"),
    )
    engine.settle()
    report = engine.preflight(keep="ns1,ns2")
    result = only(report, "workspace-conflict", BLOCK)
    assert "workspace team-y exists on member-a and on host-b without member-a" in result.message
    assert "KubeSphere refuses the join" in result.message
    moving = engine.preflight(keep="ns1,ns2,ns3")
    absent(moving, "workspace-conflict", BLOCK)
    assert moving.plan is not None and moving.plan.extend_workspaces == ("team-y",)


def test_a_new_target_workspace_is_created(demo: Any) -> None:
    report = demo.preflight(keep="ns1,ns2")
    result = only(report, "target-workspace", INFO)
    assert result.message == "workspace team-x will be created on host-b"
    plan = report.plan
    assert plan is not None and (plan.create_workspaces, plan.extend_workspaces) == (
        ("team-x",),
        (),
    )
    step = next(s for s in plan.steps if s.kind == "ensure_workspace")
    assert step.params == {
        "workspace": "team-x",
        "member": "member-a",
        "manager": "admin",
        "create": True,
        "clusters": ["member-a"],
        "networkIsolation": None,
        "labels": {},
    }


def test_an_existing_target_workspace_is_extended(engine: Any) -> None:
    engine.custom("host-b").create_cluster_custom_object(
        "tenant.kubesphere.io",
        "v1alpha2",
        "workspacetemplates",
        workspace_template("team-x", "member-b"),
    )
    engine.settle()
    report = engine.preflight(keep="ns1,ns2")
    result = only(report, "target-workspace", INFO)
    assert (
        result.message
        == "member-a will be added to the placement of existing workspace team-x on host-b"
    )
    plan = report.plan
    assert plan is not None and (plan.create_workspaces, plan.extend_workspaces) == (
        (),
        ("team-x",),
    )
    step = next(s for s in plan.steps if s.kind == "ensure_workspace")
    assert step.params["create"] is False
    assert not report.blocked, described(report)


def test_component_differences_are_listed_both_ways(demo: Any) -> None:
    found = [r for r in demo.preflight(keep="ns1,ns2").results if r.id == "components"]
    assert [r.severity for r in found] == [WARN, WARN]
    assert found[0].message == "enabled on member-a but not on host-b: events"
    assert found[1].message.startswith("enabled on host-b but not on member-a: devops;")
    assert "appstore" not in found[1].message  # the App Store only needs the host


def test_equal_components_pass(engine: Any) -> None:
    engine.custom("member-a").patch_namespaced_custom_object(
        "installer.kubesphere.io",
        "v1alpha1",
        "kubesphere-system",
        "clusterconfigurations",
        "ks-installer",
        {"spec": {"devops": {"enabled": True}, "events": {"enabled": False}}},
    )
    engine.settle()
    result = only(engine.preflight(keep="ns1,ns2"), "components", OK)
    assert result.message == "member-a and host-b enable the same components"


def test_accounts_missing_on_the_target_are_named(engine: Any) -> None:
    result = only(engine.preflight(keep="ns1,ns2"), "accounts", WARN)
    assert result.message.startswith("user(s) alice-dev have roles in the moving workspace(s)")
    engine.custom("host-b").create_cluster_custom_object(
        "iam.kubesphere.io",
        "v1alpha2",
        "users",
        {
            "apiVersion": "iam.kubesphere.io/v1alpha2",
            "kind": "User",
            "metadata": {"name": "alice-dev"},
            "spec": {"email": "alice@example.com"},
        },
    )
    engine.settle()
    report = engine.preflight(keep="ns1,ns2")
    assert (
        only(report, "accounts", OK).message
        == "every user of the moving workspace(s) exists on host-b"
    )


def test_federation_leftovers_of_another_identity_are_warned_about(engine: Any) -> None:
    absent(engine.preflight(keep="ns1,ns2"), "leftovers", WARN)
    engine.core("member-a").create_namespaced_service_account(
        "kube-federation-system", {"metadata": {"name": "old-name-kubesphere"}}
    )
    result = only(engine.preflight(keep="ns1,ns2"), "leftovers", WARN)
    assert "serviceaccount kube-federation-system/old-name-kubesphere" in result.message
    assert "member-a-kubesphere" not in result.message


def test_a_report_survives_json(demo: Any) -> None:
    report = demo.preflight(keep="ns1", discard="ns2")
    data = json.loads(json.dumps(report.to_json()))
    again = PreflightReport.from_json(data)
    assert again == report
    assert again.plan is not None and report.plan is not None
    assert again.plan.digest() == report.plan.digest()
