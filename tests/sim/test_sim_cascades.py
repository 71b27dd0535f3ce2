"""Proves the simulator deletes, with a workspace, what KubeSphere v3.4.1's controllers and garbage
collection delete — and keeps what they keep — observed through the official client over HTTP.

Checked here: deleting a WorkspaceTemplate on a member (the single-cluster controller path) and on
a host deletes the workspace's HelmReleases (`deleteOpenPitrixResourcesInWorkspace`), whose
finalizer uninstalls the chart's Deployment and release record even outside the workspace's
namespaces; workspace ResourceQuotas (owned by the Workspace), Groups, WorkspaceRoles and
WorkspaceRoleBindings (owned by the WorkspaceTemplate) and namespaces go too, and a Group's
finalizer deletes the bindings that reference it. Orphan deletion keeps the namespaces and the
quota but still uninstalls the releases. Deleting a member's Cluster on the host collects the
member's HelmReleases without uninstalling them (the workloads stay on the member).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client import V1Namespace
from kubernetes.client.exceptions import ApiException
from simclients import (
    SimClients,
    as_dict,
    model,
    name_of,
)

from k8s.sim import loader

CLUSTERS = ("cluster.kubesphere.io", "v1alpha1", "clusters")
WSTEMPLATES = ("tenant.kubesphere.io", "v1alpha2", "workspacetemplates")
WORKSPACES = ("tenant.kubesphere.io", "v1alpha1", "workspaces")
RELEASES = ("application.kubesphere.io", "v1alpha1", "helmreleases")
QUOTAS = ("quota.kubesphere.io", "v1alpha2", "resourcequotas")
GROUPS = ("iam.kubesphere.io", "v1alpha2", "groups")
GROUPBINDINGS = ("iam.kubesphere.io", "v1alpha2", "groupbindings")
WRBS = ("iam.kubesphere.io", "v1alpha2", "workspacerolebindings")
WROLES = ("iam.kubesphere.io", "v1alpha2", "workspaceroles")
WS = "kubesphere.io/workspace"


class Sim(SimClients):
    def create(self, cluster: str, gvr: tuple[str, str, str], body: dict[str, Any]) -> None:
        self.custom(cluster).create_cluster_custom_object(*gvr, body)

    def get(self, cluster: str, gvr: tuple[str, str, str], name: str) -> dict[str, Any] | None:
        try:
            return dict(as_dict(self.custom(cluster).get_cluster_custom_object(*gvr, name)))
        except ApiException as e:
            if e.status == 404:
                return None
            raise

    def names(self, cluster: str, gvr: tuple[str, str, str]) -> set[str]:
        items = self.custom(cluster).list_cluster_custom_object(*gvr)["items"]
        return {i["metadata"]["name"] for i in items}

    def namespaces(self, cluster: str) -> set[str]:
        return {name_of(n.metadata) for n in self.core(cluster).list_namespace().items}

    def deployments(self, cluster: str, ns: str) -> set[str]:
        return {
            name_of(d.metadata) for d in self.apps(cluster).list_namespaced_deployment(ns).items
        }

    def settle(self) -> None:
        assert self.world.settle(15), "simulated controllers did not settle"


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Sim]:
    world = loader.start("demo", join_delay=0.05)
    s = Sim(world, world.write_kubeconfig(tmp_path / "kubeconfig"))
    yield s
    s.close()
    world.stop()
    assert world.controller_errors == []


def release(name: str, ws: str, ns: str, cluster: str = "") -> dict[str, Any]:
    labels = {WS: ws, "kubesphere.io/namespace": ns}
    if cluster:
        labels["kubesphere.io/cluster"] = cluster
    return {
        "apiVersion": "application.kubesphere.io/v1alpha1",
        "kind": "HelmRelease",
        "metadata": {"name": name, "labels": labels},
        "spec": {"name": name, "chartName": "nginx", "version": 1},
    }


def workspace_objects(sim: Sim, cluster: str, ws: str) -> None:
    """A quota, a group with a binding and a group role binding, as the console creates them."""
    sim.create(
        cluster,
        QUOTAS,
        {"metadata": {"name": f"{ws}-quota", "labels": {WS: ws}}, "spec": {"quota": {}}},
    )
    sim.create(cluster, GROUPS, {"metadata": {"name": f"{ws}-devs", "labels": {WS: ws}}})
    ref = {"iam.kubesphere.io/group-ref": f"{ws}-devs"}
    sim.create(
        cluster,
        GROUPBINDINGS,
        {
            "metadata": {"name": f"{ws}-devs-admin", "labels": ref},
            "groupRef": {"apiGroup": "iam.kubesphere.io", "kind": "Group", "name": f"{ws}-devs"},
            "users": ["dora"],
        },
    )
    sim.create(
        cluster,
        WRBS,
        {
            "metadata": {"name": f"{ws}-devs-regular", "labels": {**ref, WS: ws}},
            "roleRef": {
                "apiGroup": "iam.kubesphere.io",
                "kind": "WorkspaceRole",
                "name": f"{ws}-regular",
            },
            "subjects": [{"apiGroup": "iam.kubesphere.io", "kind": "Group", "name": f"{ws}-devs"}],
        },
    )


def owner_kinds(obj: dict[str, Any] | None) -> set[str]:
    assert obj is not None
    return {r["kind"] for r in obj["metadata"].get("ownerReferences") or []}


def local_workspace(sim: Sim, ws: str = "local-ws") -> None:
    """A workspace made on member-a itself, a project in it, and a release in `scratch`."""
    sim.create(
        "member-a",
        WSTEMPLATES,
        {"metadata": {"name": ws}, "spec": {"template": {"spec": {"manager": "admin"}}}},
    )
    # a member-local account: KubeFed would overwrite `spec.groups` on a copy pushed by the host
    user = {"metadata": {"name": "dora"}, "spec": {"email": "dora@example.com"}}
    sim.create("member-a", ("iam.kubesphere.io", "v1alpha2", "users"), user)
    sim.settle()
    body = {"metadata": {"name": "app-ns", "labels": {WS: ws}}}
    sim.core("member-a").create_namespace(model(V1Namespace, body))
    sim.create("member-a", RELEASES, release("web", ws, "scratch"))
    workspace_objects(sim, "member-a", ws)
    sim.settle()


def test_a_release_installs_its_chart_with_helm_labels(sim: Sim) -> None:
    local_workspace(sim)
    rls = sim.get("member-a", RELEASES, "web")
    assert rls is not None
    assert rls["status"]["state"] == "active"
    assert "helmrelease.application.kubesphere.io" in rls["metadata"]["finalizers"]
    dep = sim.apps("member-a").read_namespaced_deployment("web", "scratch")
    assert dep.metadata.labels["app.kubernetes.io/managed-by"] == "Helm"
    assert dep.metadata.labels["app.kubernetes.io/instance"] == "web"
    assert dep.metadata.annotations["meta.helm.sh/release-name"] == "web"
    assert dep.metadata.annotations["meta.helm.sh/release-namespace"] == "scratch"
    secrets = sim.core("member-a").list_namespaced_secret("scratch", label_selector="owner=helm")
    assert [s.metadata.name for s in secrets.items] == ["sh.helm.release.v1.web.v1"]


def test_ownership_follows_upstream_controllers(sim: Sim) -> None:
    local_workspace(sim)
    assert owner_kinds(sim.get("member-a", QUOTAS, "local-ws-quota")) == {"Workspace"}
    assert owner_kinds(sim.get("member-a", GROUPS, "local-ws-devs")) == {"WorkspaceTemplate"}
    assert owner_kinds(sim.get("member-a", WRBS, "local-ws-devs-regular")) == {"WorkspaceTemplate"}
    group = sim.get("member-a", GROUPS, "local-ws-devs")
    assert group is not None
    assert "finalizers.kubesphere.io/groups" in group["metadata"]["finalizers"]
    # dora is member-local; on host-a's KubeFed copy (admin) KubeFed would write the
    # FederatedUser template back over the edit (kubefed dispatch/managed.go Update)
    user = sim.get("member-a", ("iam.kubesphere.io", "v1alpha2", "users"), "dora")
    assert user is not None and "local-ws-devs" in user["spec"].get("groups", [])


def test_deleting_a_member_local_template_takes_everything_of_the_workspace(sim: Sim) -> None:
    local_workspace(sim)
    sim.custom("member-a").delete_cluster_custom_object(*WSTEMPLATES, "local-ws")
    sim.settle()
    assert sim.get("member-a", WSTEMPLATES, "local-ws") is None
    assert sim.get("member-a", WORKSPACES, "local-ws") is None
    assert "app-ns" not in sim.namespaces("member-a")
    assert sim.names("member-a", RELEASES) == set()
    # the release lived outside the workspace: only the uninstall removes its workload
    assert "web" not in sim.deployments("member-a", "scratch")
    assert "scratch" in sim.namespaces("member-a")
    assert sim.get("member-a", QUOTAS, "local-ws-quota") is None
    assert sim.get("member-a", GROUPS, "local-ws-devs") is None
    assert sim.get("member-a", GROUPBINDINGS, "local-ws-devs-admin") is None
    assert sim.get("member-a", WRBS, "local-ws-devs-regular") is None
    assert {r for r in sim.names("member-a", WROLES) if r.startswith("local-ws-")} == set()
    user = sim.get("member-a", ("iam.kubesphere.io", "v1alpha2", "users"), "dora")
    assert user is not None and "local-ws-devs" not in (user["spec"].get("groups") or [])


def test_orphan_deletion_keeps_namespaces_and_quota_but_uninstalls_releases(sim: Sim) -> None:
    local_workspace(sim)
    # what ks-apiserver does for DELETE ...?propagationPolicy=Orphan (pkg/models/tenant/tenant.go)
    patch = {"metadata": {"finalizers": ["finalizers.workspacetemplate.kubesphere.io",
                                         "orphan.finalizers.kubesphere.io"]}}  # fmt: skip
    sim.custom("member-a").patch_cluster_custom_object(*WSTEMPLATES, "local-ws", patch)
    sim.custom("member-a").delete_cluster_custom_object(*WSTEMPLATES, "local-ws")
    sim.settle()
    assert sim.get("member-a", WORKSPACES, "local-ws") is None
    ns = sim.core("member-a").read_namespace("app-ns")
    assert ns.status.phase == "Active" and not ns.metadata.owner_references
    quota = sim.get("member-a", QUOTAS, "local-ws-quota")
    assert quota is not None and not quota["metadata"].get("ownerReferences")
    assert sim.names("member-a", RELEASES) == set()
    assert "web" not in sim.deployments("member-a", "scratch")
    # the template itself went with normal propagation: what it owns goes
    assert sim.get("member-a", GROUPS, "local-ws-devs") is None


def test_deleting_a_host_template_uninstalls_releases_on_the_member(sim: Sim) -> None:
    sim.create("host-a", RELEASES, release("shop", "team-x", "scratch", cluster="member-a"))
    sim.settle()
    rls = sim.get("host-a", RELEASES, "shop")
    assert rls is not None and rls["status"]["state"] == "active"
    assert owner_kinds(rls) == {"Cluster"}
    assert "shop" in sim.deployments("member-a", "scratch")
    assert "shop" not in sim.deployments("host-a", "default")
    sim.custom("host-a").delete_cluster_custom_object(*WSTEMPLATES, "team-x")
    sim.settle()
    assert sim.get("host-a", RELEASES, "shop") is None
    assert "shop" not in sim.deployments("member-a", "scratch")
    assert sim.get("member-a", WORKSPACES, "team-x") is None
    assert {"ns1", "ns2"} & sim.namespaces("member-a") == set()
    assert {r for r in sim.names("host-a", WROLES) if r.startswith("team-x-")} == set()


def test_unbinding_a_member_collects_its_releases_but_leaves_the_workloads(sim: Sim) -> None:
    sim.create("host-a", RELEASES, release("shop", "team-x", "scratch", cluster="member-a"))
    sim.settle()
    sim.custom("host-a").delete_cluster_custom_object(*CLUSTERS, "member-a")
    sim.settle()
    assert sim.get("host-a", CLUSTERS, "member-a") is None
    assert sim.get("host-a", RELEASES, "shop") is None
    assert "shop" in sim.deployments("member-a", "scratch")  # "skip helm release uninstall"


def test_a_release_for_an_unknown_cluster_is_deleted(sim: Sim) -> None:
    sim.create("host-a", RELEASES, release("ghost", "team-x", "scratch", cluster="nowhere"))
    sim.settle()
    assert sim.get("host-a", RELEASES, "ghost") is None


def test_versions_and_node_count_follow_the_member(sim: Sim) -> None:
    """cluster_controller.go: Discovery().ServerVersion().GitVersion, len(nodes), and the
    member ks-apiserver's /kapis/version gitVersion through the service proxy."""
    cl = sim.get("host-b", CLUSTERS, "member-b")
    assert cl is not None
    status = cl["status"]
    assert (status["kubernetesVersion"], status["kubeSphereVersion"]) == ("v1.27.4", "v3.4.1")
    assert status["nodeCount"] == 2
    info = client.VersionApi(sim.api("member-b")).get_code()
    assert (info.git_version, info.major, info.minor) == ("v1.27.4", "1", "27")


def test_template_labels_and_network_isolation_reach_the_member_workspace(sim: Sim) -> None:
    body = {
        "metadata": {"name": "team-z"},
        "spec": {
            "template": {
                "metadata": {"labels": {"team": "z"}},
                "spec": {"manager": "admin", "networkIsolation": True},
            },
            "placement": {"clusters": [{"name": "member-a"}]},
        },
    }
    sim.create("host-a", WSTEMPLATES, body)
    sim.settle()
    ws = sim.get("member-a", WORKSPACES, "team-z")
    assert ws is not None
    assert ws["metadata"]["labels"] == {"team": "z", "kubefed.io/managed": "true"}
    assert ws["spec"] == {"manager": "admin", "networkIsolation": True}
    fed = sim.get("host-a", ("types.kubefed.io", "v1beta1", "federatedworkspaces"), "team-z")
    assert fed is not None and fed["spec"]["template"] == body["spec"]["template"]
