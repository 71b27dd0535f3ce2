"""The consequence model (k8s/consequences.py, k8s/predict.py) and the fleet checks built on it,
from hand-made facts (no servers).

Checked here: KubeFed placement semantics (a list overrides a selector, `[]` selects nothing,
`{}` selects all); that a selector placement on the new or old host is rewritten to an explicit
list that keeps every cluster it selects today (the prod-db case); that what the new host's
KubeFed would delete on the member (left-behind workspaces and their namespaces, multi-cluster
projects), the applications a workspace deletion uninstalls and anything else nobody asked for
block preflight, by cluster and by name; what is left unmanaged or taken over; the credential
made and revoked; the notification clean-up; and the manager, connection and version checks.
"""

from __future__ import annotations

from dataclasses import replace

from test_plan import HOST_A, host, member, ns

from k8s.consequences import Action, Consequence, Writes
from k8s.facts import (
    ClusterFacts,
    FederatedInfo,
    ManagedInfo,
    ReleaseInfo,
    WorkspaceTemplateInfo,
)
from k8s.placement import Placement, Requirement, parse
from k8s.plan import Plan, build_plan
from k8s.predict import predict
from k8s.preflight import Severity
from k8s.preflight.checks import evaluate
from k8s.spec import MigrationSpec

GROUP = "cluster.kubesphere.io/group"
TESTING = Placement(selector=(Requirement(GROUP, "In", ("testing",)),))


def spec(**fields: object) -> MigrationSpec:
    return MigrationSpec("member-a", "host-b", **fields)  # type: ignore[arg-type]


def selector_template(name: str, where: Placement = TESTING) -> WorkspaceTemplateInfo:
    return WorkspaceTemplateInfo(name, f"wt-{name}", "1", where.clusters, "admin", placement=where)


def host_b(
    *templates: WorkspaceTemplateInfo, federated: tuple[FederatedInfo, ...] = ()
) -> ClusterFacts:
    base = host("host-b", *templates, members=("member-b",))
    labelled = tuple(
        replace(o, labels=((GROUP, "testing"),)) if o.name == "member-b" else o
        for o in base.cluster_objects
    )
    fed = tuple(FederatedInfo("Workspace", t.name, t.where) for t in templates) + federated
    return replace(
        base,
        cluster_objects=labelled,
        federated=fed,
        kubefed_clusters=(("member-b", ((GROUP, "testing"),)),),
    )


def plan_of(s: MigrationSpec, m: ClusterFacts, t: ClusterFacts, old: ClusterFacts = HOST_A) -> Plan:
    return build_plan(s, m, t, old, {f.name: f for f in (m, t, old)})


def find(plan: Plan, cluster: str, action: Action, name: str) -> Consequence:
    found = [
        c for c in plan.consequences if (c.cluster, c.action, c.name) == (cluster, action, name)
    ]
    assert found, "\n".join(f"{c.cluster} {c.action} {c.kind} {c.name}" for c in plan.consequences)
    return found[0]


def none_of(plan: Plan, cluster: str, action: Action, name: str) -> None:
    assert not [
        c for c in plan.consequences if (c.cluster, c.action, c.name) == (cluster, action, name)
    ]


def test_placement_follows_kubefed() -> None:
    labels = {"member-a": {GROUP: "production"}, "member-b": {GROUP: "testing"}}
    both = parse({"clusters": [{"name": "member-a"}], "clusterSelector": {"matchLabels": {}}})
    assert both.selected(labels) == {"member-a"}  # the list overrides the selector
    assert parse({"clusters": []}).selected(labels) == set()
    assert parse({"clusters": [], "clusterSelector": {}}).selected(labels) == set()
    assert parse({"clusterSelector": {}}).selected(labels) == {"member-a", "member-b"}
    assert parse({"clusterSelector": {"matchLabels": {GROUP: "testing"}}}).selected(labels) == {
        "member-b"
    }
    expr = {"matchExpressions": [{"key": GROUP, "operator": "NotIn", "values": ["testing"]}]}
    assert parse({"clusterSelector": expr}).selected(labels) == {"member-a"}
    assert parse(None).selected(labels) == set()


def test_the_prod_db_case_keeps_the_selected_cluster() -> None:
    """host-b's team-x selects member-b by label; adding member-a must not drop member-b."""
    plan = plan_of(spec(keep=("ns1", "ns2")), member(), host_b(selector_template("team-x")))
    assert plan.extend_workspaces == ("team-x",)
    ensure = next(s for s in plan.steps if s.kind == "ensure_workspace")
    assert ensure.params["clusters"] == ["member-a", "member-b"]
    none_of(plan, "member-b", Action.DELETE, "team-x")
    change = find(plan, "host-b", Action.CHANGE, "team-x")
    assert "cluster.kubesphere.io/group=testing" in change.cause
    assert "[member-a, member-b]" in change.cause


def test_a_placement_that_would_drop_a_cluster_is_named_as_a_deletion() -> None:
    """The model itself catches a rewrite that deselects someone (the old bot's bug)."""
    t = host_b(selector_template("team-x"))
    m = member()
    writes = Writes(
        moving={"team-x": "team-x"},
        keep=("ns1", "ns2"),
        old_placements={},
        target_placements={"team-x": ("member-a",)},
        created_templates=(),
        join_labels={},
        credential=None,
        revoked=None,
    )
    found = predict(spec(keep=("ns1", "ns2")), {"member-a": m, "host-b": t}, None, writes)
    lost = [c for c in found if c.cluster == "member-b" and c.action is Action.DELETE]
    assert len(lost) == 1 and lost[0].blocks and "no longer selects member-b" in lost[0].cause


def test_a_left_behind_workspace_the_new_host_places_elsewhere_blocks() -> None:
    """team-y stays on member-a, kubefed-managed; host-b's FederatedWorkspace team-y selects by
    a label member-a does not carry: host-b's KubeFed deletes it, and GC deletes ns3."""
    t = host_b(selector_template("team-y"))
    facts = {"member-a": member(), "host-b": t, "host-a": HOST_A}
    report = evaluate(spec(keep=("ns1", "ns2")), facts)
    assert report.plan is not None
    ws = find(report.plan, "member-a", Action.DELETE, "team-y")
    assert ws.blocks and "KubeFed on host-b" in ws.cause
    gone = find(report.plan, "member-a", Action.DELETE, "ns3")
    assert gone.blocks and "garbage collection" in gone.cause
    blockers = [
        r for r in report.results if r.id == "consequences" and r.severity is Severity.BLOCKER
    ]
    assert any("workspace team-y" in r.message for r in blockers)
    assert any("namespace ns3" in r.message for r in blockers)
    assert report.blocked
    # discarding ns3 makes the namespace's loss requested (the workspace itself still blocks)
    again = evaluate(spec(keep=("ns1", "ns2"), discard=("ns3",)), facts)
    assert again.plan is not None
    assert not find(again.plan, "member-a", Action.DELETE, "ns3").blocks


def test_apps_a_workspace_deletion_uninstalls_block_unless_their_namespace_is_discarded() -> None:
    """Only a WorkspaceTemplate's finalizer uninstalls a workspace's apps; a member-local template
    (not a Workspace pushed by its host) has one."""
    local = WorkspaceTemplateInfo("team-x", "wt-local", "1", None, "admin")
    m = replace(
        member(),
        workspace_templates=(local,),
        releases=(
            ReleaseInfo("shop", "ns1", "team-x"),  # ns1 is kept, but the app is team-x's
            ReleaseInfo("cache", "ns2", "team-x"),  # ns2 is discarded with it
        ),
    )
    plan = plan_of(spec(keep=("ns1",), discard=("ns2",)), m, host_b())
    shop = find(plan, "member-a", Action.UNINSTALL, "ns1/shop")
    assert shop.blocks and "finalizer of workspace template team-x" in shop.cause
    assert not find(plan, "member-a", Action.UNINSTALL, "ns2/cache").blocks
    pushed = replace(m, workspace_templates=())  # team-x exists only as a Workspace
    plan = plan_of(spec(keep=("ns1",), discard=("ns2",)), pushed, host_b())
    none_of(plan, "member-a", Action.UNINSTALL, "ns1/shop")


def test_the_old_hosts_app_records_go_with_the_unbind_but_not_the_workloads() -> None:
    old = replace(HOST_A, releases=(ReleaseInfo("shop", "ns1", "team-x", cluster="member-a"),))
    plan = plan_of(spec(keep=("ns1", "ns2")), member(), host_b(), old)
    record = find(plan, "host-a", Action.DELETE, "ns1/shop")
    assert record.requested and "its workloads stay on member-a" in record.cause
    none_of(plan, "member-a", Action.UNINSTALL, "ns1/shop")


def test_multi_cluster_projects_the_new_host_does_not_place_here_are_deleted() -> None:
    shared = replace(ns("shared", None), kubefed_managed=True)
    m = replace(member(shared))
    fed = FederatedInfo("Namespace", "shared", Placement(clusters=("member-b",)), "shared")
    plan = plan_of(spec(keep=("ns1", "ns2")), m, host_b(federated=(fed,)))
    gone = find(plan, "member-a", Action.DELETE, "shared")
    assert gone.kind == "MultiClusterNamespace" and gone.blocks


def test_old_hosts_pushes_are_left_or_taken_over() -> None:
    m = replace(
        member(),
        managed=(ManagedInfo("User", "alice"), ManagedInfo("GlobalRole", "auditor")),
        users=("alice",),
    )
    everyone = FederatedInfo("User", "alice", Placement(selector=()))
    plan = plan_of(spec(keep=("ns1", "ns2")), m, host_b(federated=(everyone,)))
    assert find(plan, "member-a", Action.TAKE_OVER, "alice").requested
    left = find(plan, "member-a", Action.LEAVE, "auditor")
    assert "unbinding leaves it" in left.cause
    none_of(plan, "member-a", Action.LEAVE, "alice")


def test_a_selector_placement_on_the_old_host_keeps_its_other_clusters() -> None:
    everyone = Placement(selector=())
    old = replace(
        host(
            "host-a",
            WorkspaceTemplateInfo("team-x", "wt", "1", None, "admin", placement=everyone),
            members=("member-a", "member-c"),
        ),
        kubefed_clusters=(("member-a", ()), ("member-c", ())),
    )
    plan = plan_of(spec(keep=("ns1", "ns2")), member(), host_b(), old)
    step = next(s for s in plan.steps if s.kind == "remove_placement")
    assert step.params["placements"] == {"team-x": ["member-c"]}
    none_of(plan, "member-c", Action.DELETE, "team-x")
    assert "without member-a" in find(plan, "host-a", Action.CHANGE, "team-x").cause


def test_credentials_and_notification_cleanup() -> None:
    m = replace(member(), host_credentials=("host-a",))
    old = replace(
        HOST_A,
        cluster_objects=tuple(
            replace(o, annotations=(("notification.kubesphere.io/cleanup", "true"),))
            for o in HOST_A.cluster_objects
        ),
    )
    plan = plan_of(spec(keep=("ns1", "ns2")), m, host_b(), old)
    assert find(plan, "member-a", Action.CREATE, "ksmc-host-host-b").requested
    assert find(plan, "member-a", Action.DELETE, "ksmc-host-host-a").requested
    cleanup = find(plan, "member-a", Action.DELETE, "notification configs and receivers")
    assert cleanup.requested and "notification.kubesphere.io/cleanup" in cleanup.cause
    unbind = next(s for s in plan.steps if s.kind == "unbind_cluster")
    assert unbind.params["revoke"] == "ksmc-host-host-a"


def test_consequences_survive_json_and_change_the_digest() -> None:
    plan = plan_of(spec(keep=("ns1", "ns2")), member(), host_b(selector_template("team-x")))
    again = Plan.from_json(plan.to_json())
    assert again == plan and again.digest() == plan.digest()
    fewer = replace(plan, consequences=plan.consequences[1:])
    assert fewer.digest() != plan.digest()
    assert plan.differences(fewer)


def test_a_member_marked_by_an_unseen_host_is_blocked() -> None:
    unbound = replace(HOST_A, cluster_objects=())
    report = evaluate(
        spec(keep=("ns1", "ns2")), {"member-a": member(), "host-b": host_b(), "host-a": unbound}
    )
    blocker = next(r for r in report.results if r.id == "managed-elsewhere")
    assert blocker.severity is Severity.BLOCKER
    clean = replace(member(), cluster_name=None, workspaces=member().workspaces[:1])
    clean = replace(clean, namespaces=tuple(n for n in clean.namespaces if n.workspace != "team-y"))
    report = evaluate(
        spec(keep=("ns1", "ns2")), {"member-a": clean, "host-b": host_b(), "host-a": unbound}
    )
    assert not [r for r in report.results if r.id == "managed-elsewhere"]


def test_proxy_members_are_refused_with_the_reason() -> None:
    old = replace(
        HOST_A,
        cluster_objects=tuple(replace(o, connection_type="proxy") for o in HOST_A.cluster_objects),
    )
    report = evaluate(
        spec(keep=("ns1", "ns2")), {"member-a": member(), "host-b": host_b(), "host-a": old}
    )
    result = next(r for r in report.results if r.id == "connection")
    assert result.severity is Severity.BLOCKER and "cluster-agent" in result.message


def test_minor_version_skew_blocks_and_patch_skew_warns() -> None:
    facts = {
        "member-a": replace(member(), ks_version="v3.3.2"),
        "host-b": host_b(),
        "host-a": HOST_A,
    }
    result = next(r for r in evaluate(spec(), facts).results if r.id == "version-skew")
    assert result.severity is Severity.BLOCKER
    facts["member-a"] = replace(member(), ks_version="v3.4.0")
    result = next(r for r in evaluate(spec(), facts).results if r.id == "version-skew")
    assert result.severity is Severity.WARNING
