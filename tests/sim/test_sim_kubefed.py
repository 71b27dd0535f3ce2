"""Proves the simulator's KubeFed sync (k8s/sim/controllers/kubefed.py) and KubeSphere's
Federated<Kind> creation (controllers/accounts.py) follow upstream, seen through kubectl and the
official client over HTTP.

Checked: the prod-db case (a `clusters` list written next to a selector deletes the workspace —
and by garbage collection its namespace — on every member the selector matched); a new host's
KubeFed deleting a left-behind kubefed-managed workspace its selector placement does not cover
(the join conflict check only looks at explicit lists) and un-labelling old-host leftovers it has
no federated object for; placement rules (`clusters` wins, `[]` selects nothing, selectors match
the KubeFedCluster labels, `{}` selects every joined cluster, the host included, and
KubeSphere's dropping of an empty list); orphans; adoption and `kubefed.io/managed=false`;
FederatedNamespace (the host's own namespace is un-labelled, never deleted) and the
user/role/binding types; deletion plain, with `kubefed.io/orphan`, with the Orphan deleteoption,
and blocked while a KubeFed cluster is unreachable.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client import V1Namespace
from kubernetes.client.exceptions import ApiException
from simclients import close, model, new_client
from waiting import wait_for

from k8s.sim import loader
from k8s.sim.world import World

Kubectl = Callable[..., subprocess.CompletedProcess[str]]
WSTEMPLATES = ("tenant.kubesphere.io", "v1alpha2", "workspacetemplates")
WORKSPACES = ("tenant.kubesphere.io", "v1alpha1", "workspaces")
FEDWS = ("types.kubefed.io", "v1beta1", "federatedworkspaces")
FEDNS = ("types.kubefed.io", "v1beta1", "federatednamespaces")
CLUSTERS = ("cluster.kubesphere.io", "v1alpha1", "clusters")
IAM = "iam.kubesphere.io"
MANAGED = "kubefed.io/managed"
WS_LABEL = "kubesphere.io/workspace"
GROUP = "cluster.kubesphere.io/group"


class Fleet:
    """Official-client access to every cluster of the world."""

    def __init__(self, world: World, kubeconfig: Path) -> None:
        self.world = world
        self._apis = {name: new_client(str(kubeconfig), name) for name in world.clusters}

    def core(self, cluster: str) -> client.CoreV1Api:
        return client.CoreV1Api(self._apis[cluster])

    def custom(self, cluster: str) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self._apis[cluster])

    def get(self, cluster: str, gvr: tuple[str, str, str], name: str, ns: str = "") -> Any:
        try:
            if ns:
                return self.custom(cluster).get_namespaced_custom_object(*gvr[:2], ns, gvr[2], name)
            return self.custom(cluster).get_cluster_custom_object(*gvr, name)
        except ApiException as e:
            if e.status == 404:
                return None
            raise

    def ns(self, cluster: str, name: str) -> Any:
        try:
            return self.core(cluster).read_namespace(name)
        except ApiException as e:
            if e.status == 404:
                return None
            raise

    def create(self, cluster: str, gvr: tuple[str, str, str], body: dict[str, Any]) -> None:
        self.custom(cluster).create_cluster_custom_object(*gvr, body)

    def settle(self) -> None:
        assert self.world.settle(10), "simulated controllers did not settle"

    def close(self) -> None:
        for api in self._apis.values():
            close(api)


@pytest.fixture
def fleet(sim_world: World, sim_kubeconfig: Path) -> Iterator[Fleet]:
    f = Fleet(sim_world, sim_kubeconfig)
    f.settle()
    yield f
    f.close()
    assert sim_world.controller_errors == []


@pytest.fixture
def kubectl(sim_kubeconfig: Path, tmp_path: Path) -> Kubectl:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not on PATH")
    # client-go sends the token only to https servers; every simulated port also speaks TLS
    kc = yaml.safe_load(sim_kubeconfig.read_text())
    for entry in kc["clusters"]:
        entry["cluster"]["server"] = entry["cluster"]["server"].replace("http://", "https://")
        entry["cluster"]["insecure-skip-tls-verify"] = True
    path = tmp_path / "kubeconfig-tls"
    path.write_text(yaml.safe_dump(kc))
    env = {**os.environ, "KUBECONFIG": str(path)}

    def run(context: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = ["kubectl", f"--cache-dir={tmp_path / 'cache'}", "--context", context, *args]
        result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed: {result.stderr}")
        return result

    return run


def labels(obj: Any) -> dict[str, str]:
    md = obj["metadata"] if isinstance(obj, dict) else obj.metadata
    found = md.get("labels") if isinstance(md, dict) else md.labels
    return dict(found or {})


def fed_workspace(name: str, placement: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {"template": {"spec": {"manager": "admin"}}, "placement": placement},
    }


# ---- (i) the prod-db case, kubectl only ------------------------------------------------------


def test_clusters_list_next_to_a_selector_deletes_workspace_and_namespace(
    kubectl: Kubectl, tmp_path: Path
) -> None:
    template = {
        "apiVersion": "tenant.kubesphere.io/v1alpha2",
        "kind": "WorkspaceTemplate",
        "metadata": {"name": "team-x"},
        "spec": {
            "template": {"spec": {"manager": "admin"}},
            "placement": {"clusterSelector": {"matchLabels": {GROUP: "testing"}}},
        },
    }
    path = tmp_path / "team-x.json"
    path.write_text(json.dumps(template))
    kubectl("host-b", "create", "-f", str(path))

    def ws_on_member_b() -> bool:
        got = kubectl("member-b", "get", "workspace", "team-x", "-o", "json", check=False)
        return (
            got.returncode == 0 and json.loads(got.stdout)["metadata"]["labels"][MANAGED] == "true"
        )

    wait_for(ws_on_member_b, what="Workspace team-x on member-b")
    kubectl("member-b", "create", "namespace", "prod-db")
    kubectl("member-b", "label", "namespace", "prod-db", f"{WS_LABEL}=team-x")

    def bound() -> bool:
        refs = kubectl(
            "member-b", "get", "ns", "prod-db", "-o", "jsonpath={.metadata.ownerReferences[0].name}"
        )
        return refs.stdout == "team-x"

    wait_for(bound, what="prod-db bound to team-x")

    patch = '{"spec":{"placement":{"clusters":[{"name":"member-a"}]}}}'
    kubectl("host-b", "patch", "workspacetemplate", "team-x", "--type=merge", "-p", patch)
    placement = json.loads(
        kubectl(
            "host-b", "get", "federatedworkspace", "team-x", "-o", "jsonpath={.spec.placement}"
        ).stdout
    )
    assert placement["clusterSelector"] == {"matchLabels": {GROUP: "testing"}}
    assert placement["clusters"] == [{"name": "member-a"}]

    def gone(kind: str, name: str) -> bool:
        return kubectl("member-b", "get", kind, name, check=False).returncode != 0

    wait_for(
        lambda: gone("workspace", "team-x"), what="KubeFed deletes Workspace team-x on member-b"
    )
    wait_for(lambda: gone("namespace", "prod-db"), timeout=10, what="GC deletes prod-db")
    assert not gone("namespace", "qa-env")  # other workspaces untouched


# ---- (ii) a new host's KubeFed and an old host's leftovers --------------------------------------


def unbind(fleet: Fleet, host: str, member: str) -> None:
    fleet.custom(host).delete_cluster_custom_object(*CLUSTERS, member)
    wait_for(
        lambda: fleet.get(host, CLUSTERS, member) is None, what=f"{member} unbound from {host}"
    )


def test_new_host_deletes_left_behind_workspace_its_selector_places_elsewhere(
    fleet: Fleet,
) -> None:
    # member-a holds team-x (ns1, ns2) and team-y (ns3) from host-a, and host-a's users
    unbind(fleet, "host-a", "member-a")
    ws = fleet.get("member-a", WORKSPACES, "team-x")
    assert labels(ws)[MANAGED] == "true"  # unjoin leaves the member alone
    fleet.create(
        "host-b",
        WSTEMPLATES,
        fed_workspace("team-x", {"clusterSelector": {"matchLabels": {GROUP: "testing"}}}),
    )
    fleet.settle()
    body = loader.cluster_object(fleet.world.clusters["member-a"], {GROUP: "production"})
    fleet.custom("host-b").create_cluster_custom_object(*CLUSTERS, body)

    # join.go checkWorkspaces ignores selector placements, so the join succeeds ...
    def ready() -> bool:
        cl = fleet.get("host-b", CLUSTERS, "member-a") or {}
        conds = (cl.get("status") or {}).get("conditions") or []
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conds)

    wait_for(ready, what="member-a Ready on host-b")
    # ... and host-b's KubeFed deletes the managed team-x it does not place; GC takes ns1, ns2
    wait_for(lambda: fleet.get("member-a", WORKSPACES, "team-x") is None, what="team-x deleted")
    wait_for(lambda: fleet.ns("member-a", "ns1") is None, timeout=10, what="ns1 deleted")
    wait_for(lambda: fleet.ns("member-a", "ns2") is None, timeout=10, what="ns2 deleted")
    fleet.settle()
    # team-y has no FederatedWorkspace on host-b: an orphan, un-labelled, kept with ns3
    team_y = fleet.get("member-a", WORKSPACES, "team-y")
    assert team_y is not None and MANAGED not in labels(team_y)
    assert fleet.ns("member-a", "ns3") is not None
    # host-a's users: alice-dev is an orphan (label removed); admin is adopted by host-b
    users = ("iam.kubesphere.io", "v1alpha2", "users")
    assert MANAGED not in labels(fleet.get("member-a", users, "alice-dev"))
    assert labels(fleet.get("member-a", users, "admin"))[MANAGED] == "true"


# ---- (iii) placement ---------------------------------------------------------------------------


def placed(fleet: Fleet, name: str) -> set[str]:
    return {c for c in ("host-a", "member-a") if fleet.get(c, WORKSPACES, name) is not None}


def test_placement_rules(fleet: Fleet) -> None:
    host = fleet.custom("host-a")
    # clusters wins over the selector; an empty list selects nothing
    fleet.create("host-a", FEDWS, fed_workspace("p-empty", {"clusters": [], "clusterSelector": {}}))
    # {} selects every joined cluster, the host's own included
    fleet.create("host-a", FEDWS, fed_workspace("p-all", {"clusterSelector": {}}))
    # labels are the KubeFedCluster's (copied from the Cluster at join)
    match = {"matchLabels": {GROUP: "production"}}
    fleet.create("host-a", FEDWS, fed_workspace("p-prod", {"clusterSelector": match}))
    # neither clusters nor selector: labels.Nothing()
    fleet.create("host-a", FEDWS, fed_workspace("p-none", {}))
    # a name that is not a KubeFedCluster is dropped
    fleet.create("host-a", FEDWS, fed_workspace("p-ghost", {"clusters": [{"name": "ghost"}]}))
    fleet.settle()
    assert placed(fleet, "p-empty") == set()
    assert placed(fleet, "p-all") == {"host-a", "member-a"}
    assert placed(fleet, "p-prod") == {"member-a"}
    assert placed(fleet, "p-none") == set()
    assert placed(fleet, "p-ghost") == set()
    status = fleet.get("host-a", FEDWS, "p-all")["status"]
    assert status["clusters"] == [{"name": "host-a"}, {"name": "member-a"}]
    assert status["conditions"][0]["type"] == "Propagation"
    assert status["conditions"][0]["status"] == "True"

    # the selector matches the KubeFedCluster: relabelling it moves the workspace away
    host.patch_namespaced_custom_object(
        "core.kubefed.io",
        "v1beta1",
        "kube-federation-system",
        "kubefedclusters",
        "member-a",
        {"metadata": {"labels": {GROUP: "staging"}}},
    )
    wait_for(lambda: placed(fleet, "p-prod") == set(), what="p-prod leaves member-a")

    # a WorkspaceTemplate's `clusters: []` does not survive KubeSphere's Go types: next to
    # `clusterSelector: {}` it places the workspace everywhere
    fleet.create(
        "host-a", WSTEMPLATES, fed_workspace("t-empty", {"clusters": [], "clusterSelector": {}})
    )
    wait_for(lambda: placed(fleet, "t-empty") == {"host-a", "member-a"}, what="t-empty everywhere")


# ---- (iv) orphans and adoption -----------------------------------------------------------------


def test_managed_object_without_federated_object_is_unlabelled_not_deleted(fleet: Fleet) -> None:
    fleet.create(
        "member-a", WORKSPACES, {"metadata": {"name": "stray", "labels": {MANAGED: "true"}}}
    )
    wait_for(
        lambda: MANAGED not in labels(fleet.get("member-a", WORKSPACES, "stray")),
        what="orphan label removal",
    )
    fleet.settle()
    assert fleet.get("member-a", WORKSPACES, "stray") is not None


def test_unmanaged_object_is_adopted_unless_labelled_false(fleet: Fleet) -> None:
    fleet.create(
        "member-a",
        WORKSPACES,
        {"metadata": {"name": "pre", "labels": {"keep": "me"}}, "spec": {"manager": "bob"}},
    )
    fleet.create(
        "member-a", WORKSPACES, {"metadata": {"name": "mine", "labels": {MANAGED: "false"}}}
    )
    fleet.settle()
    for name in ("pre", "mine"):
        fleet.create("host-a", FEDWS, fed_workspace(name, {"clusters": [{"name": "member-a"}]}))
    fleet.settle()
    pre = fleet.get("member-a", WORKSPACES, "pre")
    assert labels(pre) == {MANAGED: "true"}  # labels replaced by the template's
    assert pre["spec"] == {"manager": "admin"}
    mine = fleet.get("member-a", WORKSPACES, "mine")
    assert labels(mine) == {MANAGED: "false"} and "spec" not in mine
    assert fleet.get("host-a", FEDWS, "mine")["status"]["clusters"] == [
        {"name": "member-a", "status": "ManagedLabelFalse"}
    ]


# ---- (v) FederatedNamespace and the account types ----------------------------------------------


def test_federated_namespace_never_deletes_the_host_namespace(fleet: Fleet) -> None:
    fleet.core("host-a").create_namespace(model(V1Namespace, {"metadata": {"name": "multi"}}))
    fleet.custom("host-a").create_namespaced_custom_object(
        *FEDNS[:2],
        "multi",
        FEDNS[2],
        {
            "metadata": {"name": "multi", "namespace": "multi"},
            "spec": {
                "template": {"metadata": {"labels": {WS_LABEL: "team-x"}}},
                "placement": {"clusterSelector": {}},
            },
        },
    )
    fleet.settle()
    assert labels(fleet.ns("member-a", "multi"))[MANAGED] == "true"
    assert labels(fleet.ns("host-a", "multi"))[MANAGED] == "true"  # the host adopts its own
    assert fleet.ns("member-a", "multi").metadata.owner_references is None  # managed: unbound

    patch = {"spec": {"placement": {"clusters": [{"name": "member-a"}]}}}
    fleet.custom("host-a").patch_namespaced_custom_object(
        *FEDNS[:2], "multi", FEDNS[2], "multi", patch
    )
    fleet.settle()
    host_ns = fleet.ns("host-a", "multi")
    assert host_ns is not None and MANAGED not in labels(host_ns)  # un-labelled, kept

    patch = {"spec": {"placement": {"clusters": []}}}
    fleet.custom("host-a").patch_namespaced_custom_object(
        *FEDNS[:2], "multi", FEDNS[2], "multi", patch
    )
    wait_for(
        lambda: fleet.ns("member-a", "multi") is None, timeout=10, what="member namespace deleted"
    )
    assert fleet.ns("host-a", "multi") is not None


@pytest.mark.parametrize(
    ("plural", "body"),
    [
        ("users", {"spec": {"email": "dave@example.com"}}),
        ("globalroles", {"rules": []}),
        (
            "globalrolebindings",
            {
                "roleRef": {"apiGroup": IAM, "kind": "GlobalRole", "name": "platform-regular"},
                "subjects": [{"apiGroup": IAM, "kind": "User", "name": "admin"}],
            },
        ),
        ("workspaceroles", {"metadata": {"labels": {WS_LABEL: "team-x"}}, "rules": []}),
        (
            "workspacerolebindings",
            {
                "metadata": {"labels": {WS_LABEL: "team-x"}},
                "roleRef": {"apiGroup": IAM, "kind": "WorkspaceRole", "name": "team-x-viewer"},
                "subjects": [{"apiGroup": IAM, "kind": "User", "name": "admin"}],
            },
        ),
    ],
)
def test_account_types_are_federated_to_every_cluster(
    fleet: Fleet, plural: str, body: dict[str, Any]
) -> None:
    gvr = (IAM, "v1alpha2", plural)
    fed_gvr = ("types.kubefed.io", "v1beta1", f"federated{plural}")
    obj = {**body, "metadata": {"name": "kf-test", **(body.get("metadata") or {})}}
    fleet.create("host-a", gvr, obj)
    fleet.settle()
    original = fleet.get("host-a", gvr, "kf-test")
    assert labels(original)[MANAGED] == "false"
    fed = fleet.get("host-a", fed_gvr, "kf-test")
    assert fed["spec"]["placement"] == {"clusterSelector": {}}
    ref = fed["metadata"]["ownerReferences"][0]
    assert ref["uid"] == original["metadata"]["uid"] and ref["controller"] is True
    copy = fleet.get("member-a", gvr, "kf-test")
    assert labels(copy)[MANAGED] == "true"
    assert {"name": "host-a", "status": "ManagedLabelFalse"} in fed["status"]["clusters"]
    assert fleet.get("member-b", gvr, "kf-test") is None  # not joined to host-a

    fleet.custom("host-a").delete_cluster_custom_object(*gvr, "kf-test")
    wait_for(lambda: fleet.get("member-a", gvr, "kf-test") is None, timeout=10, what="copy deleted")


def test_a_member_event_is_reconciled_after_the_retry_delay(fleet: Fleet) -> None:
    """A managed copy deleted on a member comes back, but only once the member informer's
    event has waited out the worker's RetryDelay (not inside the delete that caused it)."""
    gvr = (IAM, "v1alpha2", "globalroles")
    fleet.create("host-a", gvr, {"metadata": {"name": "kf-drift"}, "rules": []})
    fleet.settle()
    fleet.custom("member-a").delete_cluster_custom_object(*gvr, "kf-drift")
    assert fleet.get("member-a", gvr, "kf-drift") is None
    wait_for(
        lambda: fleet.get("member-a", gvr, "kf-drift") is not None,
        timeout=10,
        what="copy re-created",
    )
    assert labels(fleet.get("member-a", gvr, "kf-drift"))[MANAGED] == "true"


# ---- (vi) deletion -----------------------------------------------------------------------------


def test_deletion_plain_orphan_annotation_and_orphan_deleteoption(fleet: Fleet) -> None:
    on_member_a = {"clusters": [{"name": "member-a"}]}

    def bound(ns: str) -> object:
        return fleet.ns("member-a", ns).metadata.owner_references

    def gone(name: str) -> bool:
        return fleet.get("host-a", FEDWS, name) is None

    for name, annots in (
        ("d-plain", {}),
        ("d-orphan", {"kubefed.io/orphan": "true"}),
        ("d-option", {"kubefed.io/deleteoption": '{"propagationPolicy":"Orphan"}'}),
    ):
        body = fed_workspace(name, on_member_a)
        body["metadata"]["annotations"] = annots
        fleet.create("host-a", FEDWS, body)
        fleet.settle()
        fed = fleet.get("host-a", FEDWS, name)
        assert "kubefed.io/sync-controller" in fed["metadata"]["finalizers"]
        fleet.core("member-a").create_namespace(
            model(V1Namespace, {"metadata": {"name": f"{name}-ns", "labels": {WS_LABEL: name}}})
        )
        wait_for(partial(bound, f"{name}-ns"), what="bind")
        fleet.custom("host-a").delete_cluster_custom_object(*FEDWS, name)
        wait_for(partial(gone, name), timeout=10, what=f"{name} finalized")
        fleet.settle()

    # plain: the copy is deleted, and GC takes its namespace
    assert fleet.get("member-a", WORKSPACES, "d-plain") is None
    assert fleet.ns("member-a", "d-plain-ns") is None
    # kubefed.io/orphan: the copy stays, without the managed label
    kept = fleet.get("member-a", WORKSPACES, "d-orphan")
    assert kept is not None and MANAGED not in labels(kept)
    assert fleet.ns("member-a", "d-orphan-ns") is not None
    # deleteoption Orphan: the copy is deleted, its dependents are orphaned
    assert fleet.get("member-a", WORKSPACES, "d-option") is None
    ns = fleet.ns("member-a", "d-option-ns")
    assert ns is not None and ns.status.phase == "Active"


def test_an_unreachable_kubefed_cluster_blocks_deletion(fleet: Fleet) -> None:
    fleet.create("host-a", FEDWS, fed_workspace("d-stuck", {"clusters": []}))
    fleet.settle()
    member = fleet.world.clusters["member-a"]
    member.down()
    try:
        fleet.custom("host-a").delete_cluster_custom_object(*FEDWS, "d-stuck")
        fleet.settle()
        stuck = fleet.get("host-a", FEDWS, "d-stuck")
        assert stuck is not None and stuck["metadata"].get("deletionTimestamp")
    finally:
        member.up()
    wait_for(
        lambda: fleet.get("host-a", FEDWS, "d-stuck") is None,
        timeout=10,
        what="finalized once back",
    )
