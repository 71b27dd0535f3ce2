"""The migration plan as pure data, built from hand-made cluster facts (no servers).

Checked here: the steps and their order for the documented example; what each kept, deleted or
untouched namespace becomes; the plan's JSON round trip and a digest that is stable across
rebuilds and dict order but changes with anything the executor would do differently; the words
`differences` uses to explain a changed world; `into` collapsing several workspaces into one
target workspace (created or extended); the old host's manager carried over; and plans without
an old host or without kept namespaces.
"""

from __future__ import annotations

import json
from dataclasses import replace

from k8s.facts import (
    ClusterFacts,
    ClusterObjectInfo,
    NamespaceInfo,
    OwnerRef,
    WorkspaceInfo,
    WorkspaceTemplateInfo,
)
from k8s.plan import Plan, Step, build_plan, moving_workspaces
from k8s.spec import MigrationSpec

MEMBER_UID = "uid-kube-system-member-a"


def ns(name: str, workspace: str | None, uid: str | None = None) -> NamespaceInfo:
    owners = (
        (
            OwnerRef(
                "tenant.kubesphere.io/v1alpha1", "Workspace", workspace, f"ws-{workspace}", True
            ),
        )
        if workspace
        else ()
    )
    return NamespaceInfo(name, uid or f"uid-{name}", "1", workspace, False, owners)


def member(*extra: NamespaceInfo) -> ClusterFacts:
    return ClusterFacts(
        name="member-a",
        reachable=True,
        kube_system_uid=MEMBER_UID,
        ks_version="v3.4.1",
        ks_major=3,
        cluster_role="member",
        cluster_name="member-a",
        namespaces=(
            ns("kube-system", "system-workspace"),
            ns("ns1", "team-x"),
            ns("ns2", "team-x"),
            ns("ns3", "team-y"),
            ns("scratch", None),
            *extra,
        ),
        workspaces=(
            WorkspaceInfo("system-workspace", "ws-system", "1", False),
            WorkspaceInfo("team-x", "ws-team-x", "1", True),
            WorkspaceInfo("team-y", "ws-team-y", "1", True),
        ),
    )


def host(
    name: str, *templates: WorkspaceTemplateInfo, members: tuple[str, ...] = ()
) -> ClusterFacts:
    objects = tuple(
        ClusterObjectInfo(
            m,
            MEMBER_UID if m == "member-a" else f"uid-{m}",
            True,
            "Cluster is available now",
            False,
            labels=(("cluster.kubesphere.io/group", "production"),),
        )
        for m in members
    )
    return ClusterFacts(
        name=name,
        reachable=True,
        kube_system_uid=f"uid-{name}",
        ks_version="v3.4.1",
        ks_major=3,
        cluster_role="host",
        multicluster_enabled=True,
        workspace_templates=templates,
        cluster_objects=objects,
    )


def template(name: str, *clusters: str, manager: str = "admin") -> WorkspaceTemplateInfo:
    return WorkspaceTemplateInfo(name, f"wt-{name}", "1", clusters or None, manager)


HOST_A = host(
    "host-a",
    template("team-x", "member-a", manager="xavier"),
    template("team-y", "member-a"),
    members=("member-a",),
)
HOST_B = host("host-b", template("qa", "member-b"), members=("member-b",))


def plan_for(spec: MigrationSpec, m: ClusterFacts | None = None, t: ClusterFacts = HOST_B) -> Plan:
    return build_plan(spec, m or member(), t, HOST_A)


def spec(**fields: object) -> MigrationSpec:
    return MigrationSpec("member-a", "host-b", **fields)  # type: ignore[arg-type]


def test_the_documented_example_in_steps() -> None:
    plan = plan_for(spec(keep=("ns1", "ns2")))
    assert [(s.kind, s.cluster) for s in plan.steps] == [
        ("prepare_credential", "member-a"),
        ("validate_from_host", "host-b"),
        ("unbind_namespaces", "member-a"),
        ("remove_placement", "host-a"),
        ("delete_workspaces", "member-a"),
        ("validate_from_host", "host-b"),
        ("unbind_cluster", "host-a"),
        ("join_cluster", "host-b"),
        ("ensure_workspace", "host-b"),
        ("rebind_namespaces", "member-a"),
        ("verify", "host-b"),
    ]
    assert plan.old_host == "host-a" and plan.member_uid == MEMBER_UID
    assert plan.moving_workspaces == {"team-x": "team-x"}
    assert (plan.keep, plan.delete) == (("ns1", "ns2"), ())
    assert plan.untouched == ("kube-system", "ns3", "scratch")
    assert (plan.create_workspaces, plan.extend_workspaces) == (("team-x",), ())
    join = plan.steps[7]
    assert join.params == {
        "member": "member-a",
        "member_uid": MEMBER_UID,
        "labels": {"cluster.kubesphere.io/group": "production"},
    }
    ensure = plan.steps[8]
    assert ensure.params["manager"] == "xavier"  # carried over from host-a's template
    assert plan.steps[9].params == {"bindings": {"ns1": "team-x", "ns2": "team-x"}}
    assert plan.identity == {
        "cluster member-a": MEMBER_UID,
        "workspace team-x on member-a": "ws-team-x",
        "namespace ns1 on member-a": "uid-ns1",
        "namespace ns2 on member-a": "uid-ns2",
        "cluster object member-a on host-a": MEMBER_UID,
    }


def test_json_round_trip() -> None:
    plan = plan_for(spec(keep=("ns1",), discard=("ns2",), sync_jwt=True))
    text = json.dumps(plan.to_json())
    again = Plan.from_json(json.loads(text))
    assert again == plan
    assert again.digest() == plan.digest()
    assert [s.kind for s in again.steps].count("sync_jwt") == 1


def test_digest_is_stable_and_ignores_dict_order() -> None:
    first = plan_for(spec(keep=("ns1", "ns2")))
    second = plan_for(spec(keep=("ns1", "ns2")))
    assert first is not second and first.digest() == second.digest()
    assert len(first.digest()) == 16
    reordered = replace(
        first,
        identity=dict(reversed(list(first.identity.items()))),
        steps=tuple(
            Step(s.kind, s.cluster, s.title, dict(reversed(list(s.params.items()))))
            for s in first.steps
        ),
    )
    assert reordered.digest() == first.digest()


def test_digest_changes_with_what_the_executor_would_do() -> None:
    base = plan_for(spec(keep=("ns1", "ns2"))).digest()
    assert plan_for(spec(keep=("ns1", "ns2"), sync_jwt=True)).digest() != base
    assert plan_for(spec(keep=("ns1", "ns2"), into="team-z")).digest() != base
    replaced = member()
    replaced = replace(
        replaced,
        namespaces=tuple(
            replace(n, uid="uid-ns1-new") if n.name == "ns1" else n for n in replaced.namespaces
        ),
    )
    assert plan_for(spec(keep=("ns1", "ns2")), replaced).digest() != base


def test_differences_in_words() -> None:
    approved = plan_for(spec(keep_all=True))
    assert approved.differences(plan_for(spec(keep_all=True))) == []

    grown = plan_for(spec(keep_all=True), member(ns("late", "team-x")))
    assert approved.differences(grown) == ["kept namespaces: now also late"]
    assert grown.differences(approved) == ["kept namespaces: no longer late"]

    recreated = member()
    recreated = replace(
        recreated,
        namespaces=tuple(
            replace(n, uid="uid-ns2-new") if n.name == "ns2" else n for n in recreated.namespaces
        ),
    )
    assert approved.differences(plan_for(spec(keep_all=True), recreated)) == [
        "namespace ns2 on member-a was replaced (uid changed)"
    ]

    elsewhere = build_plan(
        spec(keep_all=True),
        member(),
        HOST_B,
        replace(HOST_A, name="host-c"),
    )
    diffs = approved.differences(elsewhere)
    assert "current host: was host-a, now host-c" in diffs

    doomed = plan_for(spec(keep=("ns1",), discard=("ns2",)))
    kept = plan_for(spec(keep=("ns1", "ns2")))
    assert kept.differences(doomed) == [
        "kept namespaces: no longer ns2",
        "deleted namespaces: now also ns2",
    ]

    existing = host("host-b", template("team-x", "member-b"), members=("member-b",))
    assert kept.differences(plan_for(spec(keep=("ns1", "ns2")), t=existing)) == [
        "workspaces created: no longer team-x",
        "workspaces extended: now also team-x",
    ]


def test_differences_falls_back_to_the_steps() -> None:
    plan = plan_for(spec(keep=("ns1", "ns2")))
    other = replace(plan, steps=plan.steps[:-1])
    assert plan.differences(other) == ["the steps differ"]


def test_into_collapses_workspaces_into_one() -> None:
    plan = plan_for(spec(keep=("ns1", "ns3"), discard=("ns2",), into="team-z"))
    assert plan.moving_workspaces == {"team-x": "team-z", "team-y": "team-z"}
    assert plan.create_workspaces == ("team-z",)
    ensures = [s for s in plan.steps if s.kind == "ensure_workspace"]
    assert len(ensures) == 1
    assert ensures[0].params == {
        "workspace": "team-z",
        "member": "member-a",
        "manager": "xavier",
        "create": True,
        "clusters": ["member-a"],
        "networkIsolation": None,
        "labels": {},
    }
    rebind = next(s for s in plan.steps if s.kind == "rebind_namespaces")
    assert rebind.params == {"bindings": {"ns1": "team-z", "ns3": "team-z"}}
    delete = next(s for s in plan.steps if s.kind == "delete_workspaces")
    assert delete.params == {"workspaces": ["team-x", "team-y"], "discard": ["ns2"]}
    placement = next(s for s in plan.steps if s.kind == "remove_placement")
    assert placement.params == {
        "workspaces": ["team-x", "team-y"],
        "member": "member-a",
        "placements": {"team-x": [], "team-y": []},
        "previous": {
            "team-x": {"clusters": [{"name": "member-a"}]},
            "team-y": {"clusters": [{"name": "member-a"}]},
        },
    }


def test_into_an_existing_workspace_extends_it() -> None:
    target = host("host-b", template("shared", "member-b"), members=("member-b",))
    plan = plan_for(spec(keep_all=True, into="shared"), t=target)
    assert (plan.create_workspaces, plan.extend_workspaces) == ((), ("shared",))
    ensure = next(s for s in plan.steps if s.kind == "ensure_workspace")
    assert (
        ensure.params["create"] is False
        and ensure.title == "Add member-a to workspace shared on host-b"
    )


def test_keep_all_moves_every_host_managed_workspace_but_the_system_one() -> None:
    assert moving_workspaces(spec(keep_all=True), member()) == {
        "team-x": "team-x",
        "team-y": "team-y",
    }
    plan = plan_for(spec(keep_all=True))
    assert plan.keep == ("ns1", "ns2", "ns3") and plan.delete == ()
    assert "kube-system" in plan.untouched


def test_a_member_bound_nowhere_is_only_joined() -> None:
    plan = build_plan(spec(keep=("scratch",)), member(), HOST_B, None)
    assert plan.old_host is None
    assert [s.kind for s in plan.steps] == [
        "prepare_credential",
        "validate_from_host",
        "unbind_namespaces",
        "join_cluster",
        "rebind_namespaces",
        "verify",
    ]
    # scratch is in no workspace: unbound (a no-op) but never bound to anything
    assert plan.steps[4].params == {"bindings": {}}
    assert plan.steps[3].params["labels"] == {}


def test_moving_without_projects_only_moves_the_cluster() -> None:
    plan = plan_for(spec())
    assert [s.kind for s in plan.steps] == [
        "prepare_credential",
        "validate_from_host",
        "validate_from_host",
        "unbind_cluster",
        "join_cluster",
        "verify",
    ]
    assert plan.keep == () and plan.delete == () and plan.moving_workspaces == {}


def test_long_namespace_lists_are_shortened_in_titles() -> None:
    many = tuple(ns(f"app-{i:02}", "team-x") for i in range(10))
    keep = ("ns1", "ns2", *(n.name for n in many))
    plan = plan_for(spec(keep=keep), member(*many))
    assert plan.steps[2].title == (
        "Unbind app-00, app-01, app-02, app-03, app-04, app-05 and 6 more from their workspace "
        "on member-a"
    )
    assert plan.steps[2].params["namespaces"] == sorted(keep)
