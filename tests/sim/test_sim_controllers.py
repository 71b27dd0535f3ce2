"""Proves the simulated KubeSphere 3.x controllers do what the domain doc's "Controller
behaviours a simulator must reproduce" list says, observed through the official client over HTTP.

Checked here: the host's cluster controller (join: status.uid = member kube-system UID,
versions, node count, configz, Federated/Ready, `multicluster.clusterName` on the member,
KubeFedCluster + `<name>-secret` on the host, `kube-federation-system` + `<name>-kubesphere` on
the member; the join delay; a jwtSecret mismatch still joining; the workspace-conflict refusal;
delete = unjoin that leaves the member alone, stuck while the member is down); WorkspaceTemplate
→ FederatedWorkspace → member Workspaces following the placement (removal deleting bound
namespaces); namespace ↔ Workspace binding by label and ownerReference (kubefed-managed
namespaces skipped); Workspace and member-local WorkspaceTemplate deletion cascading to
namespaces (Terminating first), Orphan propagation keeping them; users and workspace role
bindings pushed host → members; ks-installer re-rendering kubesphere-config from the cc spec;
and a fresh cluster turned into a host (and a member joined to it) purely through the API.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client import V1Namespace
from kubernetes.client.exceptions import ApiException
from simclients import (
    SimClients,
    Watch,
    as_dict,
    error_body,
    model,
    raw_body,
)
from waiting import wait_for

from k8s.sim import loader
from k8s.sim.world import World

MERGE = "application/merge-patch+json"
CLUSTERS = ("cluster.kubesphere.io", "v1alpha1", "clusters")
WSTEMPLATES = ("tenant.kubesphere.io", "v1alpha2", "workspacetemplates")
WORKSPACES = ("tenant.kubesphere.io", "v1alpha1", "workspaces")
FEDWORKSPACES = ("types.kubefed.io", "v1beta1", "federatedworkspaces")
USERS = ("iam.kubesphere.io", "v1alpha2", "users")
WRBS = ("iam.kubesphere.io", "v1alpha2", "workspacerolebindings")
CC = ("installer.kubesphere.io", "v1alpha1")
FED_NS = "kube-federation-system"
WS_LABEL = "kubesphere.io/workspace"
MANAGED = "kubefed.io/managed"
CONFLICT = (
    "The workspace team-x is found in the target member cluster member-a, which is conflict "
    "with the workspace on host"
)


def missing(read: Callable[[], Any]) -> bool:
    try:
        read()
    except ApiException as e:
        if e.status == 404:
            return True
        raise
    return False


def condition(obj: dict[str, Any], ctype: str) -> dict[str, Any] | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == ctype:
            return dict(cond)
    return None


def is_ready(obj: dict[str, Any]) -> bool:
    cond = condition(obj, "Ready")
    return bool(cond and cond["status"] == "True")


class Fleet(SimClients):
    """Typed-API access to every cluster of a world over HTTP, plus a few readers."""

    def get(self, cluster: str, gvr: tuple[str, str, str], name: str) -> dict[str, Any]:
        return dict(as_dict(self.custom(cluster).get_cluster_custom_object(*gvr, name)))

    def names(self, cluster: str, gvr: tuple[str, str, str]) -> set[str]:
        items = self.custom(cluster).list_cluster_custom_object(*gvr)["items"]
        return {i["metadata"]["name"] for i in items}

    def ks_config(self, cluster: str) -> dict[str, Any]:
        cm = self.core(cluster).read_namespaced_config_map("kubesphere-config", "kubesphere-system")
        return dict(yaml.safe_load(cm.data["kubesphere.yaml"]))

    def cluster_obj(self, host: str, name: str) -> dict[str, Any] | None:
        try:
            return self.get(host, CLUSTERS, name)
        except ApiException as e:
            if e.status == 404:
                return None
            raise

    def wait_ready(self, host: str, name: str, timeout: float = 5.0) -> dict[str, Any]:
        def ready() -> dict[str, Any] | None:
            obj = self.cluster_obj(host, name)
            return obj if obj is not None and is_ready(obj) else None

        return dict(wait_for(ready, timeout, f"Cluster {name} Ready on {host}"))

    def unbind(self, host: str, name: str) -> None:
        self.custom(host).delete_cluster_custom_object(*CLUSTERS, name)
        wait_for(lambda: self.cluster_obj(host, name) is None, what=f"{name} unbound from {host}")

    def import_member(self, host: str, member: str) -> None:
        body = loader.cluster_object(self.world.clusters[member])
        self.custom(host).create_cluster_custom_object(*CLUSTERS, body)

    def settle(self) -> None:
        assert self.world.settle(10), "simulated controllers did not settle"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """The demo world, shared by the tests that only read it."""
    world = loader.start("demo", join_delay=0.05)
    fleet = Fleet(world, world.write_kubeconfig(tmp_path_factory.mktemp("demo") / "kubeconfig"))
    yield fleet
    fleet.close()
    world.stop()
    assert world.controller_errors == []


@pytest.fixture
def fleet(sim_world: World, sim_kubeconfig: Path) -> Iterator[Fleet]:
    """A demo world of its own, for tests that change it."""
    f = Fleet(sim_world, sim_kubeconfig)
    yield f
    f.close()
    assert sim_world.controller_errors == []


# ---- cluster controller: join ---------------------------------------------------------------


def test_join_fills_the_cluster_status(demo: Fleet) -> None:
    member_uid = demo.core("member-a").read_namespace("kube-system").metadata.uid
    cl = demo.get("host-a", CLUSTERS, "member-a")
    assert "finalizer.cluster.kubesphere.io" in cl["metadata"]["finalizers"]
    status = cl["status"]
    assert status["uid"] == member_uid
    assert status["kubernetesVersion"] == "v1.26.7"
    assert status["kubeSphereVersion"] == "v3.4.1"
    assert status["nodeCount"] == 4
    configz = status["configz"]
    assert configz["logging"] is True and configz["events"] is True
    assert configz["devops"] is False and configz["multicluster"] is False
    assert configz["openpitrix"] is True and configz["openpitrix.appstore"] is False
    federated, ready = condition(cl, "Federated"), condition(cl, "Ready")
    assert federated is not None and federated["status"] == "True"
    assert ready is not None and ready["status"] == "True"
    assert ready["message"] == "Cluster is available now"
    assert cl["spec"]["connection"]["kubernetesAPIEndpoint"] == demo.world.clusters["member-a"].url

    # the host's own Cluster describes the host
    own = demo.get("host-a", CLUSTERS, "host-a")
    assert own["metadata"]["labels"]["cluster-role.kubesphere.io/host"] == ""
    assert own["status"]["uid"] == demo.core("host-a").read_namespace("kube-system").metadata.uid
    assert own["status"]["configz"]["multicluster"] is True and is_ready(own)


def test_join_writes_the_cluster_name_and_kubefed_objects(demo: Fleet) -> None:
    assert demo.ks_config("member-a")["multicluster"]["clusterName"] == "member-a"
    assert demo.ks_config("member-b")["multicluster"]["clusterName"] == "member-b"
    assert "clusterName" not in demo.ks_config("host-b")["multicluster"]

    kfc = demo.custom("host-a").get_namespaced_custom_object(
        "core.kubefed.io", "v1beta1", FED_NS, "kubefedclusters", "member-a"
    )
    assert kfc["metadata"]["labels"] == {"cluster.kubesphere.io/group": "production"}
    assert kfc["spec"]["apiEndpoint"] == demo.world.clusters["member-a"].url
    secret = demo.core("host-a").read_namespaced_secret("member-a-secret", FED_NS)
    assert secret.type == "Opaque"
    assert demo.core("member-a").read_namespace(FED_NS).status.phase == "Active"
    sa = demo.core("member-a").read_namespaced_service_account("member-a-kubesphere", FED_NS)
    assert sa.metadata.namespace == FED_NS
    # nothing of member-a's join lands on host-b
    assert missing(lambda: demo.core("host-b").read_namespaced_secret("member-a-secret", FED_NS))


def test_member_with_another_jwt_secret_still_becomes_ready(demo: Fleet) -> None:
    host_jwt = demo.ks_config("host-b")["authentication"]["jwtSecret"]
    member_jwt = demo.ks_config("member-b")["authentication"]["jwtSecret"]
    assert host_jwt != member_jwt
    assert is_ready(demo.get("host-b", CLUSTERS, "member-b"))


def test_member_config_as_rendered_for_a_member(demo: Fleet) -> None:
    conf = demo.ks_config("member-a")
    assert conf["multicluster"]["clusterRole"] == "member"
    assert conf["multicluster"]["enable"] is False
    assert conf["authentication"]["oauthOptions"] == {"accessTokenMaxAge": 0}
    assert conf["authentication"]["jwtSecret"] == "gfIwilcc0WjNGKJ5DLeksf2JKfcLgTZU"
    host = demo.ks_config("host-a")
    assert host["multicluster"] == {
        "clusterRole": "host",
        "enable": True,
        "hostClusterName": "host-a",
    }


def test_ks_apiserver_answers_through_the_service_proxy(demo: Fleet) -> None:
    core = demo.core("member-a")
    version = json.loads(
        raw_body(
            core.connect_get_namespaced_service_proxy_with_path(
                "ks-apiserver:80", "kubesphere-system", "kapis/version", _preload_content=False
            )
        )
    )
    assert version["gitVersion"] == "v3.4.1"
    assert version["kubernetes"]["gitVersion"] == "v1.26.7"
    configz = json.loads(
        raw_body(
            core.connect_get_namespaced_service_proxy_with_path(
                ":ks-apiserver:80",
                "kubesphere-system",
                "kapis/config.kubesphere.io/v1alpha2/configs/configz",
                _preload_content=False,
            )
        )
    )
    # the same answer the host recorded in the member's Cluster status
    assert configz == demo.get("host-a", CLUSTERS, "member-a")["status"]["configz"]
    host = json.loads(
        raw_body(
            demo.core("host-b").connect_get_namespaced_service_proxy_with_path(
                "ks-apiserver",
                "kubesphere-system",
                "kapis/config.kubesphere.io/v1alpha2/configs/configz",
                _preload_content=False,
            )
        )
    )
    assert host["multicluster"] is True and host["devops"] is True


def test_join_waits_for_the_join_delay(fleet: Fleet) -> None:
    fleet.unbind("host-b", "member-b")
    fleet.world.join_delay = 0.5
    started = time.monotonic()
    fleet.import_member("host-a", "member-b")
    time.sleep(0.25)
    early = fleet.get("host-a", CLUSTERS, "member-b")
    assert not is_ready(early) and not (early.get("status") or {}).get("uid")
    fleet.wait_ready("host-a", "member-b")
    assert time.monotonic() - started >= 0.5


def test_workspace_conflict_blocks_the_join(fleet: Fleet) -> None:
    # host-b gets its own team-x, placed on member-b only
    fleet.custom("host-b").create_cluster_custom_object(
        *WSTEMPLATES,
        {
            "metadata": {"name": "team-x"},
            "spec": {
                "template": {"spec": {"manager": "admin"}},
                "placement": {"clusters": [{"name": "member-b"}]},
            },
        },
    )
    fleet.settle()
    fleet.unbind("host-a", "member-a")
    # member-a still carries host-a's kubefed-managed Workspace team-x
    stale = fleet.get("member-a", WORKSPACES, "team-x")
    assert stale["metadata"]["labels"][MANAGED] == "true"
    fleet.import_member("host-b", "member-a")

    def failed() -> dict[str, Any] | None:
        obj = fleet.get("host-b", CLUSTERS, "member-a")
        fed = condition(obj, "Federated")
        return obj if fed and fed["status"] == "False" else None

    obj = wait_for(failed, what="the join to fail")
    federated = condition(obj, "Federated")
    # cluster_controller.go syncCluster: the join error is the Federated *reason*
    assert federated is not None and federated["reason"] == CONFLICT
    assert federated["message"] == "Cluster can not join federation control plane"
    ready = condition(obj, "Ready")
    assert ready is not None and ready["status"] == "False"
    assert ready["reason"] == "Cluster join federation control plane failed"
    assert ready["message"] == "Cluster is Not Ready now"
    assert "member-a" not in {
        i["metadata"]["name"]
        for i in fleet.custom("host-b").list_namespaced_custom_object(
            "core.kubefed.io", "v1beta1", FED_NS, "kubefedclusters"
        )["items"]
    }
    # resolving the conflict (placing host-b's team-x on member-a too) lets the join through
    fleet.custom("host-b").patch_cluster_custom_object(
        *WSTEMPLATES,
        "team-x",
        {"spec": {"placement": {"clusters": [{"name": "member-b"}, {"name": "member-a"}]}}},
    )
    fleet.wait_ready("host-b", "member-a", timeout=6)


# ---- cluster controller: unbind --------------------------------------------------------------


def test_cluster_delete_unjoins_and_leaves_the_member_alone(fleet: Fleet) -> None:
    member = fleet.core("member-a")
    before = {n.metadata.name: n.metadata.uid for n in member.list_namespace().items}
    workspaces = fleet.names("member-a", WORKSPACES)
    fleet.unbind("host-a", "member-a")

    assert missing(lambda: fleet.core("host-a").read_namespaced_secret("member-a-secret", FED_NS))
    kfcs = fleet.custom("host-a").list_namespaced_custom_object(
        "core.kubefed.io", "v1beta1", FED_NS, "kubefedclusters"
    )
    assert kfcs["items"] == []
    fleet.settle()
    after = {n.metadata.name: n.metadata.uid for n in member.list_namespace().items}
    assert after == before
    assert fleet.names("member-a", WORKSPACES) == workspaces
    assert member.read_namespaced_service_account("member-a-kubesphere", FED_NS)
    assert fleet.ks_config("member-a")["multicluster"]["clusterName"] == "member-a"
    # the host's templates keep their placement (kubesphere#3084)
    wt = fleet.get("host-a", WSTEMPLATES, "team-x")
    assert wt["spec"]["placement"]["clusters"] == [{"name": "member-a"}]


def test_cluster_delete_is_stuck_while_the_member_is_down(fleet: Fleet) -> None:
    member = fleet.world.clusters["member-a"]
    member.down()
    fleet.custom("host-a").delete_cluster_custom_object(*CLUSTERS, "member-a")
    time.sleep(1.3)  # longer than the controller's retry interval
    stuck = fleet.get("host-a", CLUSTERS, "member-a")
    assert stuck["metadata"]["deletionTimestamp"]
    assert stuck["metadata"]["finalizers"] == ["finalizer.cluster.kubesphere.io"]
    # 3.4's webhook refuses even removing the finalizer by hand (kubesphere#6154)
    with pytest.raises(ApiException) as e:
        fleet.custom("host-a").patch_cluster_custom_object(
            *CLUSTERS, "member-a", {"metadata": {"finalizers": None}}
        )
    assert e.value.status == 403
    message = error_body(e.value)["message"]
    assert message.startswith(
        'admission webhook "validating-cluster.kubesphere.io" denied the request: '
        f'Get "{member.url}/api/v1/namespaces/kube-system": dial tcp'
    )
    assert message.endswith("connect: connection refused")
    member.up()
    wait_for(lambda: fleet.cluster_obj("host-a", "member-a") is None, what="the unbind")


def test_webhook_refuses_a_kubeconfig_of_another_cluster(fleet: Fleet) -> None:
    custom = fleet.custom("host-a")
    custom.patch_cluster_custom_object(
        *CLUSTERS, "member-a", {"metadata": {"labels": {"tier": "gold"}}}
    )  # an update is fine while the member answers with the same kube-system UID
    other = loader.cluster_object(fleet.world.clusters["member-b"])
    with pytest.raises(ApiException) as e:
        custom.patch_cluster_custom_object(
            *CLUSTERS, "member-a", {"spec": {"connection": other["spec"]["connection"]}}
        )
    assert e.value.status == 403
    assert error_body(e.value)["message"].endswith(
        "this kubeconfig corresponds to a different cluster than the previous one, you need "
        "to make sure that kubeconfig is not from another cluster"
    )
    kept = fleet.get("host-a", CLUSTERS, "member-a")
    assert kept["metadata"]["labels"]["tier"] == "gold"
    assert kept["spec"]["connection"]["kubeconfig"] != other["spec"]["connection"]["kubeconfig"]


# ---- workspaces --------------------------------------------------------------------------------


def test_workspace_template_placement_follows_members(fleet: Fleet) -> None:
    host, member = fleet.custom("host-a"), fleet.core("member-a")
    host.create_cluster_custom_object(
        *WSTEMPLATES,
        {
            "metadata": {"name": "team-z"},
            "spec": {"template": {"spec": {"manager": "admin"}}, "placement": {"clusters": []}},
        },
    )
    fleet.settle()
    wt = fleet.get("host-a", WSTEMPLATES, "team-z")
    assert wt["metadata"]["labels"][MANAGED] == "false"
    assert "finalizers.workspacetemplate.kubesphere.io" in wt["metadata"]["finalizers"]
    # KubeSphere's Go types drop the empty list (`clusters,omitempty`): nil, no selector, nothing
    assert fleet.get("host-a", FEDWORKSPACES, "team-z")["spec"]["placement"] == {}
    assert "team-z" not in fleet.names("member-a", WORKSPACES)
    assert {"team-z-admin", "team-z-regular", "team-z-viewer"} <= fleet.names(
        "host-a", ("iam.kubesphere.io", "v1alpha2", "workspaceroles")
    )
    assert "admin-team-z-admin" in fleet.names("host-a", WRBS)

    host.patch_cluster_custom_object(
        *WSTEMPLATES, "team-z", {"spec": {"placement": {"clusters": [{"name": "member-a"}]}}}
    )
    ws = wait_for(
        lambda: "team-z" in fleet.names("member-a", WORKSPACES), what="Workspace on member-a"
    )
    ws = fleet.get("member-a", WORKSPACES, "team-z")
    assert ws["metadata"]["labels"][MANAGED] == "true"
    assert ws["spec"] == {"manager": "admin"}

    member.create_namespace(
        model(V1Namespace, {"metadata": {"name": "zns", "labels": {WS_LABEL: "team-z"}}})
    )
    wait_for(lambda: member.read_namespace("zns").metadata.owner_references, what="binding")

    host.patch_cluster_custom_object(
        *WSTEMPLATES, "team-z", {"spec": {"placement": {"clusters": []}}}
    )
    wait_for(lambda: "team-z" not in fleet.names("member-a", WORKSPACES), what="Workspace removal")
    wait_for(lambda: missing(lambda: member.read_namespace("zns")), what="GC of zns")
    assert member.read_namespace("ns1").status.phase == "Active"  # other workspaces untouched


def test_placement_by_cluster_selector(fleet: Fleet) -> None:
    fleet.custom("host-a").create_cluster_custom_object(
        *WSTEMPLATES,
        {
            "metadata": {"name": "prod-only"},
            "spec": {
                "template": {"spec": {"manager": "admin"}},
                "placement": {
                    "clusterSelector": {
                        "matchLabels": {"cluster.kubesphere.io/group": "production"}
                    }
                },
            },
        },
    )
    wait_for(lambda: "prod-only" in fleet.names("member-a", WORKSPACES), what="selector placement")


# ---- namespace ↔ workspace binding --------------------------------------------------------------


def test_namespace_label_binds_and_unbinds(fleet: Fleet) -> None:
    member = fleet.core("member-a")
    team_x = fleet.get("member-a", WORKSPACES, "team-x")["metadata"]["uid"]
    team_y = fleet.get("member-a", WORKSPACES, "team-y")["metadata"]["uid"]
    member.create_namespace(
        model(V1Namespace, {"metadata": {"name": "bound", "labels": {WS_LABEL: "team-x"}}})
    )

    def refs() -> list[Any]:
        return list(member.read_namespace("bound").metadata.owner_references or [])

    wait_for(refs, what="ownerReference")
    (ref,) = refs()
    assert (ref.api_version, ref.kind, ref.name, ref.uid) == (
        "tenant.kubesphere.io/v1alpha1",
        "Workspace",
        "team-x",
        team_x,
    )
    assert ref.controller is True and ref.block_owner_deletion is True
    ns = member.read_namespace("bound")
    assert ns.metadata.labels["kubesphere.io/namespace"] == "bound"
    assert "finalizers.kubesphere.io/namespaces" in ns.metadata.finalizers

    member.patch_namespace("bound", {"metadata": {"labels": {WS_LABEL: "team-y"}}})
    wait_for(lambda: [r.uid for r in refs()] == [team_y], what="rebinding to team-y")

    member.patch_namespace("bound", {"metadata": {"labels": {WS_LABEL: None}}}, _content_type=MERGE)
    wait_for(lambda: refs() == [], what="unbinding")
    fleet.settle()
    assert member.read_namespace("bound").status.phase == "Active"


def test_namespace_of_a_missing_workspace_stays_unbound(fleet: Fleet) -> None:
    member = fleet.core("member-a")
    member.create_namespace(
        model(V1Namespace, {"metadata": {"name": "lonely", "labels": {WS_LABEL: "nope"}}})
    )
    fleet.settle()
    ns = member.read_namespace("lonely")
    assert ns.metadata.owner_references is None
    assert ns.metadata.labels[WS_LABEL] == "nope"


def test_kubefed_managed_namespaces_are_skipped(fleet: Fleet) -> None:
    # a multi-cluster project: the FederatedNamespace lives in the host namespace it federates
    # (without one, KubeFed would treat a managed namespace as an orphan and un-label it)
    fleet.core("host-a").create_namespace(model(V1Namespace, {"metadata": {"name": "fed-proj"}}))
    fleet.custom("host-a").create_namespaced_custom_object(
        "types.kubefed.io",
        "v1beta1",
        "fed-proj",
        "federatednamespaces",
        {
            "metadata": {"name": "fed-proj", "namespace": "fed-proj"},
            "spec": {
                "template": {"metadata": {"labels": {WS_LABEL: "team-x"}}},
                "placement": {"clusters": [{"name": "member-a"}]},
            },
        },
    )
    member = fleet.core("member-a")
    wait_for(lambda: not missing(lambda: member.read_namespace("fed-proj")), what="fed-proj")
    fleet.settle()
    ns = member.read_namespace("fed-proj")
    assert ns.metadata.labels[MANAGED] == "true" and ns.metadata.labels[WS_LABEL] == "team-x"
    assert ns.metadata.owner_references is None


def test_deleting_a_workspace_deletes_its_namespaces(fleet: Fleet) -> None:
    member = fleet.core("member-a")
    since = member.list_namespace().metadata.resource_version
    fleet.custom("member-a").delete_cluster_custom_object(*WORKSPACES, "team-y")
    phases: list[tuple[str, str | None]] = []
    w = Watch()
    for ev in w.stream(
        member.list_namespace,
        field_selector="metadata.name=ns3",
        resource_version=since,
        timeout_seconds=5,
    ):
        phases.append((ev["type"], ev["object"].status.phase))
        if ev["type"] == "DELETED":
            w.stop()
    assert ("MODIFIED", "Terminating") in phases
    assert phases[-1][0] == "DELETED"
    assert missing(lambda: member.read_namespace("ns3"))
    assert {"ns1", "ns2", "scratch"} <= {n.metadata.name for n in member.list_namespace().items}


def test_orphan_delete_of_a_workspace_keeps_its_namespaces(fleet: Fleet) -> None:
    member = fleet.core("member-a")
    # while host-a places team-y on member-a its KubeFed re-creates a deleted copy at once
    fleet.unbind("host-a", "member-a")
    fleet.custom("member-a").delete_cluster_custom_object(
        *WORKSPACES, "team-y", propagation_policy="Orphan"
    )
    wait_for(lambda: "team-y" not in fleet.names("member-a", WORKSPACES), what="Workspace gone")
    fleet.settle()
    ns3 = member.read_namespace("ns3")
    assert ns3.status.phase == "Active" and ns3.metadata.owner_references is None


def test_deleting_a_member_local_template_deletes_workspace_and_namespaces(fleet: Fleet) -> None:
    member, custom = fleet.core("member-a"), fleet.custom("member-a")
    custom.create_cluster_custom_object(
        *WSTEMPLATES,
        {"metadata": {"name": "local"}, "spec": {"template": {"spec": {"manager": "admin"}}}},
    )
    wait_for(lambda: "local" in fleet.names("member-a", WORKSPACES), what="local Workspace")
    ws = fleet.get("member-a", WORKSPACES, "local")
    assert MANAGED not in (ws["metadata"].get("labels") or {})
    assert ws["metadata"]["ownerReferences"][0]["kind"] == "WorkspaceTemplate"
    member.create_namespace(
        model(V1Namespace, {"metadata": {"name": "local-ns", "labels": {WS_LABEL: "local"}}})
    )
    wait_for(lambda: member.read_namespace("local-ns").metadata.owner_references, what="binding")

    custom.delete_cluster_custom_object(*WSTEMPLATES, "local")
    wait_for(lambda: missing(lambda: member.read_namespace("local-ns")), what="namespace GC")
    assert "local" not in fleet.names("member-a", WORKSPACES)
    assert "local" not in fleet.names("member-a", WSTEMPLATES)


def test_workspace_template_delete_on_a_member_is_not_found_for_host_workspaces(
    fleet: Fleet,
) -> None:
    # on a 3.x member, host-made workspaces exist only as Workspace objects
    assert "team-x" in fleet.names("member-a", WORKSPACES)
    with pytest.raises(ApiException) as e:
        fleet.custom("member-a").delete_cluster_custom_object(*WSTEMPLATES, "team-x")
    assert e.value.status == 404


# ---- accounts ---------------------------------------------------------------------------------


def test_users_and_role_bindings_are_pushed_to_members(fleet: Fleet) -> None:
    assert fleet.names("member-a", USERS) == {"admin", "alice-dev", "carol-qa"}
    assert fleet.names("member-b", USERS) == {"admin", "carol-qa"}
    copy = fleet.get("member-a", USERS, "alice-dev")
    assert copy["metadata"]["labels"][MANAGED] == "true"
    assert copy["spec"]["email"] == "alice@example.com"
    assert fleet.get("host-a", USERS, "alice-dev")["metadata"]["labels"][MANAGED] == "false"
    wrb = fleet.get("member-a", WRBS, "alice-dev-team-x-regular")
    assert wrb["metadata"]["labels"][MANAGED] == "true"
    assert wrb["roleRef"]["name"] == "team-x-regular"
    assert "alice-dev-team-x-regular" not in fleet.names("member-b", WRBS)

    fleet.custom("host-a").create_cluster_custom_object(
        *USERS, {"metadata": {"name": "dave"}, "spec": {"email": "dave@example.com"}}
    )
    wait_for(lambda: "dave" in fleet.names("member-a", USERS), what="user push")
    assert "dave" not in fleet.names("member-b", USERS)
    fleet.custom("host-a").patch_cluster_custom_object(
        *USERS, "dave", {"spec": {"displayName": "Dave"}}
    )
    wait_for(
        lambda: fleet.get("member-a", USERS, "dave")["spec"].get("displayName") == "Dave",
        what="user update push",
    )
    fleet.custom("host-a").delete_cluster_custom_object(*USERS, "dave")
    wait_for(lambda: "dave" not in fleet.names("member-a", USERS), what="user removal push")


def test_old_hosts_copies_stay_behind_after_unbind(fleet: Fleet) -> None:
    fleet.unbind("host-a", "member-a")
    fleet.settle()
    assert "alice-dev" in fleet.names("member-a", USERS)
    fleet.import_member("host-b", "member-a")
    fleet.wait_ready("host-b", "member-a")
    fleet.settle()
    users = fleet.names("member-a", USERS)
    assert {"admin", "carol-qa", "alice-dev"} <= users  # alice-dev is host-a's orphan


# ---- ks-installer -----------------------------------------------------------------------------


def test_cc_changes_re_render_kubesphere_config(fleet: Fleet) -> None:
    custom = fleet.custom("member-a")
    custom.patch_namespaced_custom_object(
        *CC,
        "kubesphere-system",
        "clusterconfigurations",
        "ks-installer",
        {
            "spec": {
                "authentication": {"jwtSecret": "a-brand-new-secret-of-32-chars!!"},
                "devops": {"enabled": True},
                "logging": {"enabled": False},
            }
        },
    )

    def rendered() -> dict[str, Any] | None:
        conf = fleet.ks_config("member-a")
        jwt = conf["authentication"]["jwtSecret"]
        return conf if jwt == "a-brand-new-secret-of-32-chars!!" else None

    conf = wait_for(rendered, what="re-render")
    assert conf["devops"] == {"enabled": True} and "logging" not in conf
    assert conf["multicluster"]["clusterName"] == "member-a"  # the host's write survives
    fleet.settle()
    cc = custom.get_namespaced_custom_object(
        *CC, "kubesphere-system", "clusterconfigurations", "ks-installer"
    )
    assert cc["status"]["devops"]["status"] == "enabled" and "logging" not in cc["status"]

    custom.patch_namespaced_custom_object(
        *CC,
        "kubesphere-system",
        "clusterconfigurations",
        "ks-installer",
        {"spec": {"multicluster": {"clusterRole": "none"}}},
    )
    wait_for(
        lambda: fleet.ks_config("member-a")["multicluster"]["clusterRole"] == "none",
        what="role change",
    )
    conf = fleet.ks_config("member-a")
    assert "enable" not in conf["multicluster"] and "oauthOptions" not in conf["authentication"]


def test_fresh_cluster_becomes_a_host_through_the_api(tmp_path: Path) -> None:
    world = loader.start_fresh(["fresh-h", "fresh-m"], join_delay=0.05)
    fleet = Fleet(world, world.write_kubeconfig(tmp_path / "kubeconfig"))
    try:
        for name, role in (("fresh-h", "host"), ("fresh-m", "member")):
            fleet.core(name).create_namespace(
                model(V1Namespace, {"metadata": {"name": "kubesphere-system"}})
            )
            fleet.custom(name).create_namespaced_custom_object(
                *CC,
                "kubesphere-system",
                "clusterconfigurations",
                {
                    "apiVersion": "installer.kubesphere.io/v1alpha1",
                    "kind": "ClusterConfiguration",
                    "metadata": {"name": "ks-installer", "labels": {"version": "v3.4.1"}},
                    "spec": {
                        "authentication": {"jwtSecret": "" if role == "host" else "s3cr3t"},
                        "multicluster": {"clusterRole": role},
                    },
                },
            )
        wait_for(
            lambda: not missing(lambda: fleet.ks_config("fresh-h")),
            what="kubesphere-config on the fresh host",
        )
        host_conf = fleet.ks_config("fresh-h")
        assert host_conf["multicluster"]["enable"] is True
        assert len(host_conf["authentication"]["jwtSecret"]) == 32  # generated by the installer
        own = fleet.wait_ready("fresh-h", "host")
        assert own["metadata"]["labels"]["cluster-role.kubesphere.io/host"] == ""
        assert "system-workspace" in fleet.names("fresh-h", WSTEMPLATES)
        assert fleet.core("fresh-h").read_namespace(FED_NS).status.phase == "Active"

        fleet.import_member("fresh-h", "fresh-m")
        joined = fleet.wait_ready("fresh-h", "fresh-m")
        assert joined["status"]["uid"] == (
            fleet.core("fresh-m").read_namespace("kube-system").metadata.uid
        )
        assert fleet.ks_config("fresh-m")["multicluster"]["clusterName"] == "fresh-m"
        assert world.controller_errors == []
    finally:
        fleet.close()
        world.stop()
