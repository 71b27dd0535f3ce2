"""The fleet views (k8s/fleet/) from hand-made facts, without any server.

Checks: a member's host is the host whose Cluster object claims the member's kube-system UID (not
its name), by name only when the member cannot be read; renamed, doubly claimed, not Ready and
unbound members; jwtSecret groups as stable letters and a member whose secret differs from its
host's; each way a namespace's workspace label and owner can disagree; workspace drift on a
member (made locally, or kubefed-managed but not placed by its host); component differences
(the App Store skipped for a member against its host); an old host still placing a workspace on
a member that moved; problems sorted first.
"""

from __future__ import annotations

from dataclasses import replace

from k8s import fleet
from k8s.facts import (
    ClusterFacts,
    ClusterObjectInfo,
    FederatedWorkspaceInfo,
    NamespaceInfo,
    OwnerRef,
    WorkspaceInfo,
    WorkspaceTemplateInfo,
)

SECRET_A, SECRET_B = "aaaaaaaaaaaa", "bbbbbbbbbbbb"


def ws_owner(name: str, uid: str) -> OwnerRef:
    return OwnerRef("tenant.kubesphere.io/v1alpha1", "Workspace", name, uid, controller=True)


def ns(
    name: str, workspace: str | None = None, owner: OwnerRef | None = None, kubefed: bool = False
) -> NamespaceInfo:
    return NamespaceInfo(name, f"uid-{name}", "1", workspace, kubefed, (owner,) if owner else ())


def host(
    name: str,
    *members: tuple[str, str | None],
    ready: bool = True,
    templates: tuple[WorkspaceTemplateInfo, ...] = (),
    secret: str = SECRET_A,
    components: dict[str, bool] | None = None,
) -> ClusterFacts:
    objects = [ClusterObjectInfo(name, f"ks-{name}", True, "", is_host_itself=True)]
    objects += [
        ClusterObjectInfo(
            m, uid, ready, "Cluster is available now" if ready else "join failed", False
        )
        for m, uid in members
    ]
    return ClusterFacts(
        name,
        reachable=True,
        kube_system_uid=f"ks-{name}",
        ks_version="v3.4.1",
        cluster_role="host",
        multicluster_enabled=True,
        jwt_fingerprint=secret,
        node_count=3,
        components=tuple(sorted((components or {"logging": True, "appstore": True}).items())),
        workspace_templates=templates,
        federated_workspaces=tuple(
            FederatedWorkspaceInfo(t.name, t.placement_clusters) for t in templates
        ),
        cluster_objects=tuple(objects),
    )


def member(
    name: str,
    secret: str = SECRET_A,
    namespaces: tuple[NamespaceInfo, ...] = (),
    workspaces: tuple[WorkspaceInfo, ...] = (),
    templates: tuple[WorkspaceTemplateInfo, ...] = (),
    components: dict[str, bool] | None = None,
) -> ClusterFacts:
    return ClusterFacts(
        name,
        reachable=True,
        kube_system_uid=f"ks-{name}",
        ks_version="v3.4.1",
        cluster_role="member",
        jwt_fingerprint=secret,
        node_count=2,
        components=tuple(sorted((components or {"logging": True}).items())),
        namespaces=namespaces,
        workspaces=workspaces,
        workspace_templates=templates,
    )


def template(name: str, *placed: str) -> WorkspaceTemplateInfo:
    return WorkspaceTemplateInfo(name, f"t-{name}", "1", tuple(placed) or None)


def workspace(name: str, kubefed: bool = True) -> WorkspaceInfo:
    return WorkspaceInfo(name, f"w-{name}", "1", kubefed)


def world(*clusters: ClusterFacts) -> dict[str, ClusterFacts]:
    return {c.name: c for c in clusters}


def kinds(view: fleet.Fleet, cluster: str) -> list[str]:
    return [f.kind for f in view.about(cluster)]


# ---- binding -------------------------------------------------------------------------------


def test_member_is_bound_by_kube_system_uid_not_by_name() -> None:
    # host-a's Cluster "member-a" claims member-b's UID: it is member-b that host-a has.
    facts = world(
        host("host-a", ("member-a", "ks-member-b")), member("member-a"), member("member-b")
    )
    view = fleet.build_fleet(facts)
    assert view.row("member-b").host == "host-a"  # type: ignore[union-attr]
    assert view.row("member-a").host is None  # type: ignore[union-attr]
    assert "unbound" in kinds(view, "member-a")
    assert "stale-cluster" not in kinds(view, "host-a")  # the name points elsewhere, not stale
    assert any("under another name, member-a" in f.text for f in view.about("member-b"))


def test_unreachable_member_is_matched_by_name_and_flagged() -> None:
    down = ClusterFacts("member-a", reachable=False, error="connection refused")
    view = fleet.build_fleet(world(host("host-a", ("member-a", "ks-member-a")), down))
    row = view.row("member-a")
    assert row is not None and row.role == "member" and row.host == "host-a"
    assert row.bindings[0].by == "name"
    assert view.findings[0].kind == "unreachable" and view.findings[0].severity == "error"
    assert view.rows[0].name == "member-a"  # problems first


def test_not_ready_and_claimed_twice_are_errors() -> None:
    facts = world(
        host("host-a", ("member-a", "ks-member-a"), ready=False),
        host("host-b", ("member-a", "ks-member-a")),
        member("member-a"),
    )
    view = fleet.build_fleet(facts)
    assert {"not-ready", "bound-twice"} <= set(kinds(view, "member-a"))
    not_ready = next(f for f in view.about("member-a") if f.kind == "not-ready")
    assert "join failed" in not_ready.text and "host-a" in not_ready.text


def test_cluster_object_claiming_a_foreign_uid_is_flagged_on_the_host() -> None:
    facts = world(host("host-a", ("member-a", "ks-rebuilt")), member("member-a"))
    view = fleet.build_fleet(facts)
    assert "stale-cluster" in kinds(view, "host-a")
    assert "unbound" in kinds(view, "member-a")


# ---- jwtSecret -----------------------------------------------------------------------------


def test_jwt_groups_are_letters_in_name_order_and_mismatch_with_host_is_an_error() -> None:
    facts = world(
        host("host-b", ("member-b", "ks-member-b")),
        member("member-b", secret=SECRET_B),
        member("member-a", secret=SECRET_B),
        host("host-a", ("member-a", "ks-member-a"), secret=SECRET_B),
    )
    view = fleet.build_fleet(facts)
    assert view.jwt_groups == (("A", ("host-a", "member-a", "member-b")), ("B", ("host-b",)))
    jwt = [f for f in view.findings if f.kind == "jwt"]
    assert [f.cluster for f in jwt] == ["member-b"]
    assert "group A" in jwt[0].text and "group B" in jwt[0].text
    assert SECRET_A not in str(view.rows) + str(view.findings)  # fingerprints never leave


# ---- namespaces ----------------------------------------------------------------------------


def test_each_inconsistent_namespace_binding_is_explained() -> None:
    team = workspace("team-x", kubefed=True)
    f = member(
        "member-a",
        namespaces=(
            ns("ok", "team-x", ws_owner("team-x", "w-team-x")),
            ns("no-owner", "team-x"),
            ns("no-label", None, ws_owner("team-x", "w-team-x")),
            ns("missing-ws", "gone"),
            ns("other-owner", "team-x", ws_owner("team-y", "w-team-y")),
            ns("stale-uid", "team-x", ws_owner("team-x", "w-old")),
            ns("propagated", "team-x", kubefed=True),  # controllers skip these: not an issue
            ns("free"),
        ),
        workspaces=(team,),
    )
    issues = {r.name: r.issue for r in fleet.projects(f)}
    assert issues["ok"] is None and issues["propagated"] is None and issues["free"] is None
    assert "not bound" in (issues["no-owner"] or "")
    assert "no workspace label" in (issues["no-label"] or "")
    assert "does not exist" in (issues["missing-ws"] or "")
    assert "owned by workspace team-y" in (issues["other-owner"] or "")
    assert "garbage collection" in (issues["stale-uid"] or "")
    rows = fleet.projects(f)
    assert [r.issue is not None for r in rows] == sorted(
        (r.issue is not None for r in rows), reverse=True
    )  # inconsistent first
    assert [r.name for r in fleet.projects(f, "team-x")][-1] in {"ok", "propagated"}


def test_host_namespaces_labelled_for_a_template_workspace_are_fine() -> None:
    h = replace(
        host("host-a", templates=(template("system-workspace"),)),
        namespaces=(ns("kube-system", "system-workspace"),),
    )
    assert fleet.projects(h)[0].issue is None
    assert fleet.build_fleet(world(h)).findings == ()


# ---- workspaces ----------------------------------------------------------------------------


def test_drift_local_and_stale_workspaces_on_a_member() -> None:
    m = member(
        "member-a",
        workspaces=(
            workspace("team-x"),
            workspace("old-team"),  # kubefed-managed, but host-a does not place it here
            workspace("adhoc", kubefed=False),  # made on the member
            workspace("system-workspace", kubefed=False),  # built in: fine
        ),
        templates=(template("system-workspace"),),
    )
    h = host("host-a", ("member-a", "ks-member-a"), templates=(template("team-x", "member-a"),))
    view = fleet.build_fleet(world(h, m))
    drift = next(f for f in view.about("member-a") if f.kind == "drift")
    assert "adhoc" in drift.text and "old-team" in drift.text
    assert "team-x" not in drift.text and "system-workspace" not in drift.text
    rows = {r.name: r for r in fleet.workspaces(view)}
    assert rows["team-x"].hosts == ("host-a",) and rows["team-x"].placement == ("member-a",)
    assert not rows["team-x"].issues
    assert any("created on member-a itself" in i for i in rows["adhoc"].issues)
    assert any("left over" in i for i in rows["old-team"].issues)
    assert fleet.workspaces(view)[-1].name == "system-workspace"  # built-in last
    assert list(rows) and all(r.issues for r in fleet.workspaces(view)[:2])  # problems first


def test_workspace_placed_on_a_member_but_missing_there() -> None:
    h = host("host-a", ("member-a", "ks-member-a"), templates=(template("team-x", "member-a"),))
    view = fleet.build_fleet(world(h, member("member-a")))
    (row,) = fleet.workspaces(view, "member-a")
    assert row.name == "team-x" and row.issues == ("placed on member-a but missing there",)


# ---- components ----------------------------------------------------------------------------


def test_component_diff_skips_the_app_store_for_a_member_against_its_host() -> None:
    h = host("host-a", components={"appstore": True, "devops": True, "logging": True})
    m = member("member-a", components={"appstore": False, "logging": True, "events": True})
    diff = fleet.component_diff(m, h, member_vs_host=True)
    assert [(d.name, d.left, d.right) for d in diff] == [
        ("devops", None, True),
        ("events", True, None),
    ]
    assert "appstore" in [d.name for d in fleet.component_diff(m, h)]


def test_component_difference_with_the_host_is_info_only() -> None:
    h = host("host-a", ("member-a", "ks-member-a"), components={"devops": True})
    view = fleet.build_fleet(world(h, member("member-a", components={"devops": False})))
    (finding,) = view.about("member-a")
    assert finding.severity == "info" and "devops" in finding.text
    assert view.row("member-a").problems == 0  # type: ignore[union-attr]


def test_migrations_in_flight_are_attached_to_their_member() -> None:
    facts = world(host("host-a", ("member-a", "ks-member-a")), member("member-a"))
    moving = fleet.InFlight("r1", "running", "member-a", "host-b")
    view = fleet.build_fleet(facts, [moving])
    assert view.row("member-a").migration == moving  # type: ignore[union-attr]
    assert view.migrations == (moving,)


def test_an_old_hosts_placement_of_a_member_that_moved_is_flagged() -> None:
    old = host("host-a", templates=(template("team-x", "member-a"),))
    new = host("host-b", ("member-a", "ks-member-a"), templates=(template("team-x", "member-a"),))
    view = fleet.build_fleet(world(old, new, member("member-a", workspaces=(workspace("team-x"),))))
    (row,) = fleet.workspaces(view, "member-a")
    assert row.hosts == ("host-a", "host-b")
    assert row.issues == ("host-a still places it on member-a, which is bound to host-b",)
