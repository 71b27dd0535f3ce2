"""Whole migrations against the simulator, checked through the official client and kubectl.

Checked here: `migrate member-a to host-b keep ns1,ns2` on the demo world ends with member-a Ready
on host-b and gone from host-a, ns1 and ns2 labelled with the target workspace and owned by it,
their contents intact, and no namespace deleted anywhere (the set of namespaces of every cluster
is compared before and after) — read back with kubectl too when it is installed. Then the
variants: a confirmed discard deletes exactly that namespace; `keep all`; `into` one workspace;
an existing target workspace is extended; a member-local WorkspaceTemplate is deleted and
recreated on the new host; and sync-jwt aligns the member's jwtSecret before the join.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kubectl import KUBECTL, kubectl

from k8s.executor import MemorySink, StepState
from k8s.preflight import Severity
from k8s.sim.resources import (
    CLUSTERS,
    CONFIGMAPS,
    NAMESPACES,
    WORKSPACES,
    WORKSPACETEMPLATES,
)


def migrate(rig: Any, member: str = "member-a", target: str = "host-b", **fields: Any) -> Any:
    """Preflight, require a runnable plan, execute it; return (plan, outcome, sink)."""
    report = rig.preflight(member, target, **fields)
    assert not report.blocked, [r.message for r in report.results if r.severity is Severity.BLOCKER]
    sink = MemorySink()
    outcome = rig.execute(report.plan, sink)
    assert outcome.succeeded, (outcome.message, sink.events)
    assert set(sink.states().values()) == {StepState.DONE}
    rig.settle()
    return report.plan, outcome, sink


def labels(obj: dict[str, Any]) -> dict[str, str]:
    return dict(obj["metadata"].get("labels") or {})


def assert_bound(rig: Any, cluster: str, namespace: str, workspace: str) -> None:
    """`namespace` is labelled for `workspace` and controller-owned by that Workspace."""
    ns = rig.peek(cluster, NAMESPACES, namespace)
    ws = rig.peek(cluster, WORKSPACES, workspace)
    assert ns is not None, f"{namespace} is gone from {cluster}"
    assert ws is not None, f"workspace {workspace} is missing on {cluster}"
    assert labels(ns)["kubesphere.io/workspace"] == workspace
    refs = ns["metadata"].get("ownerReferences") or []
    assert [(r["kind"], r["name"], r["uid"], r.get("controller")) for r in refs] == [
        ("Workspace", workspace, ws["metadata"]["uid"], True)
    ]


def assert_member_moved(rig: Any, member: str, old: str, new: str) -> None:
    on_new = rig.peek(new, CLUSTERS, member)
    assert on_new is not None, f"{member} is not registered on {new}"
    assert on_new["status"]["uid"] == rig.cluster(member).kube_system_uid
    ready = [c for c in on_new["status"]["conditions"] if c["type"] == "Ready"]
    assert ready and ready[0]["status"] == "True"
    assert rig.peek(old, CLUSTERS, member) is None, f"{member} is still registered on {old}"


def test_the_documented_example(engine: Any, tmp_path: Path) -> None:
    before = engine.all_namespaces()
    plan, outcome, sink = migrate(engine, keep="ns1,ns2")

    assert outcome.message == ""
    assert sink.events[-1] == (
        "finished",
        len(plan.steps) - 1,
        "member-a is Ready on host-b; 2 namespace(s) in place",
    )
    assert_member_moved(engine, "member-a", old="host-a", new="host-b")
    for name in ("ns1", "ns2"):
        assert_bound(engine, "member-a", name, "team-x")
    # the workspace on member-a is now host-b's (pushed by its KubeFed), placed by host-b
    ws = engine.peek("member-a", WORKSPACES, "team-x")
    assert labels(ws)["kubefed.io/managed"] == "true"
    template = engine.peek("host-b", WORKSPACETEMPLATES, "team-x")
    assert template["spec"]["placement"]["clusters"] == [{"name": "member-a"}]
    assert template["spec"]["template"]["spec"]["manager"] == "admin"
    old_template = engine.peek("host-a", WORKSPACETEMPLATES, "team-x")
    assert old_template["spec"]["placement"]["clusters"] == []
    # what was not part of the request is as it was
    assert labels(engine.peek("member-a", NAMESPACES, "ns3"))["kubesphere.io/workspace"] == "team-y"
    assert "kubesphere.io/workspace" not in labels(engine.peek("member-a", NAMESPACES, "scratch"))
    settings = engine.peek("member-a", CONFIGMAPS, "app-settings", namespace="ns1")
    assert settings is not None and settings["data"] == {"LOG_LEVEL": "info"}
    assert engine.all_namespaces() == before, "a namespace appeared or disappeared"

    # the same facts through the official client, as the bot reads them
    api = engine.registry.api("member-a")
    ns1 = api.get_namespace("ns1")
    assert ns1["metadata"]["labels"]["kubesphere.io/workspace"] == "team-x"
    assert ns1["metadata"]["annotations"]["kubesphere.io/alias-name"] == "NS One"

    if KUBECTL is None:
        pytest.skip("kubectl is not installed; the client checks above passed")
    for name in ("ns1", "ns2"):
        got = kubectl(engine, tmp_path, "--context", "member-a", "get", "ns", name, "-o", "json")
        assert got.returncode == 0, got.stderr
        obj = json.loads(got.stdout)
        assert obj["metadata"]["labels"]["kubesphere.io/workspace"] == "team-x"
        refs = obj["metadata"]["ownerReferences"]
        assert [(r["kind"], r["name"], r["uid"]) for r in refs] == [
            ("Workspace", "team-x", ws["metadata"]["uid"])
        ]
    joined = kubectl(
        engine, tmp_path, "--context", "host-b", "get", "clusters.cluster.kubesphere.io",
        "member-a", "-o", "json",
    )  # fmt: skip
    assert joined.returncode == 0, joined.stderr
    conditions = {c["type"]: c["status"] for c in json.loads(joined.stdout)["status"]["conditions"]}
    assert conditions["Ready"] == "True"
    gone = kubectl(
        engine, tmp_path, "--context", "host-a", "get", "clusters.cluster.kubesphere.io", "member-a"
    )
    assert gone.returncode != 0 and "NotFound" in gone.stderr
    listed = kubectl(engine, tmp_path, "--context", "member-a", "get", "ns", "-o", "name")
    assert listed.returncode == 0, listed.stderr
    assert {line.removeprefix("namespace/") for line in listed.stdout.split()} == before["member-a"]


def test_a_confirmed_discard_deletes_exactly_that_namespace(engine: Any) -> None:
    before = engine.all_namespaces()
    plan, _, _ = migrate(engine, keep="ns1", discard="ns2")
    assert plan.delete == ("ns2",)
    after = engine.all_namespaces()
    assert before["member-a"] - after["member-a"] == {"ns2"}
    assert after["member-a"] <= before["member-a"]
    assert {k: v for k, v in after.items() if k != "member-a"} == {
        k: v for k, v in before.items() if k != "member-a"
    }
    assert_bound(engine, "member-a", "ns1", "team-x")


def test_keep_all_moves_every_workspace(engine: Any) -> None:
    before = engine.all_namespaces()
    plan, _, _ = migrate(engine, keep_all=True)
    assert plan.keep == ("ns1", "ns2", "ns3")
    assert_member_moved(engine, "member-a", old="host-a", new="host-b")
    assert_bound(engine, "member-a", "ns1", "team-x")
    assert_bound(engine, "member-a", "ns2", "team-x")
    assert_bound(engine, "member-a", "ns3", "team-y")
    assert engine.all_namespaces() == before


def test_into_gathers_every_kept_namespace_in_one_workspace(engine: Any) -> None:
    before = engine.all_namespaces()
    migrate(engine, keep="ns1,ns2,ns3", into="team-z")
    for name in ("ns1", "ns2", "ns3"):
        assert_bound(engine, "member-a", name, "team-z")
    assert engine.peek("member-a", WORKSPACES, "team-x") is None
    assert engine.peek("member-a", WORKSPACES, "team-y") is None
    assert engine.peek("host-b", WORKSPACETEMPLATES, "team-z") is not None
    assert engine.all_namespaces() == before


def test_an_existing_workspace_on_the_target_is_extended(engine: Any) -> None:
    engine.custom("host-b").create_cluster_custom_object(
        "tenant.kubesphere.io",
        "v1alpha2",
        "workspacetemplates",
        {
            "apiVersion": "tenant.kubesphere.io/v1alpha2",
            "kind": "WorkspaceTemplate",
            "metadata": {"name": "team-x"},
            "spec": {
                "template": {"spec": {"manager": "bob"}},
                "placement": {"clusters": [{"name": "member-b"}]},
            },
        },
    )
    engine.settle()
    before = engine.all_namespaces()
    plan, _, _ = migrate(engine, keep="ns1,ns2")
    assert plan.extend_workspaces == ("team-x",)
    template = engine.peek("host-b", WORKSPACETEMPLATES, "team-x")
    assert template["spec"]["placement"]["clusters"] == [{"name": "member-b"}, {"name": "member-a"}]
    assert template["spec"]["template"]["spec"]["manager"] == "bob"
    assert engine.peek("member-b", WORKSPACES, "team-x") is not None
    assert_bound(engine, "member-a", "ns1", "team-x")
    assert engine.all_namespaces() == before


def test_a_member_local_workspace_template_is_deleted_and_recreated_on_the_host(
    engine: Any,
) -> None:
    """A workspace made on the member itself exists there as a WorkspaceTemplate that owns its
    Workspace; deleting it is the delete step's own work (no host removes it)."""
    engine.custom("member-a").create_cluster_custom_object(
        "tenant.kubesphere.io",
        "v1alpha2",
        "workspacetemplates",
        {
            "apiVersion": "tenant.kubesphere.io/v1alpha2",
            "kind": "WorkspaceTemplate",
            "metadata": {"name": "local-ws"},
            "spec": {"template": {"spec": {"manager": "admin"}}},
        },
    )
    engine.settle()
    for name in ("local-app", "local-tmp"):
        engine.create_namespace("member-a", name, **{"kubesphere.io/workspace": "local-ws"})
    engine.settle()
    assert_bound(engine, "member-a", "local-tmp", "local-ws")
    before = engine.all_namespaces()
    engine.clear_requests()

    migrate(engine, keep="local-app", discard="local-tmp")

    deletes = {k for k in engine.writes() if k[1] == "DELETE"}
    assert (
        "member-a",
        "DELETE",
        "/apis/tenant.kubesphere.io/v1alpha2/workspacetemplates/local-ws",
    ) in deletes
    assert before["member-a"] - engine.all_namespaces()["member-a"] == {"local-tmp"}
    assert_bound(engine, "member-a", "local-app", "local-ws")
    assert labels(engine.peek("member-a", WORKSPACES, "local-ws"))["kubefed.io/managed"] == "true"
    assert engine.peek("member-a", WORKSPACETEMPLATES, "local-ws") is None


def test_sync_jwt_aligns_the_member_before_the_join(engine: Any) -> None:
    report = engine.preflight("member-b", "host-a", keep="qa-env")
    assert [r.id for r in report.by_severity(Severity.BLOCKER)] == ["jwt-secret"]
    before = engine.all_namespaces()
    plan, _, sink = migrate(engine, "member-b", "host-a", keep="qa-env", sync_jwt=True)
    index = [s.kind for s in plan.steps].index("sync_jwt")
    assert ("finished", index, "member-b's jwtSecret now matches host-a's") in sink.events
    assert_member_moved(engine, "member-b", old="host-b", new="host-a")
    assert_bound(engine, "member-b", "qa-env", "qa")
    again = engine.preflight("member-b", "host-a")
    assert [r.severity for r in again.results if r.id == "jwt-secret"] == ["ok"]
    assert engine.all_namespaces() == before
