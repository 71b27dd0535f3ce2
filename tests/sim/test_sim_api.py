"""Proves the simulator speaks the Kubernetes API the way kube-apiserver does, through the
official `kubernetes` client over HTTP (no patched client, no in-process shortcuts for reads).

Checked here: CRUD for namespaces, configmaps, secrets, serviceaccounts, leases and custom
objects (cluster-scoped WorkspaceTemplates, namespaced ClusterConfigurations); uid,
creationTimestamp and strictly increasing resourceVersions; the `kind: Status` error bodies for
Conflict (stale resourceVersion), AlreadyExists, NotFound, Invalid, BadRequest and a missing
namespace; list shape, label selectors (every operator), field selectors, limit/continue paging;
watch from a resourceVersion with timeoutSeconds, selector transitions and 410 Expired after
history compaction; JSON merge, JSON and strategic merge patches (415 on custom objects);
finalizers, Terminating namespaces, propagationPolicy and garbage collection; discovery.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client import V1ConfigMap, V1Namespace, V1Secret, V1ServiceAccount
from kubernetes.client.exceptions import ApiException
from simclients import (
    Watch,
    as_dict,
    close,
    error_body,
    model,
    name_of,
    new_client,
    raw_body,
)

from k8s.sim import loader
from k8s.sim.resources import CONFIGMAPS
from k8s.sim.world import World

CLUSTER = "api"
TENANT = ("tenant.kubesphere.io", "v1alpha2", "workspacetemplates")
INSTALLER = ("installer.kubesphere.io", "v1alpha1", "clusterconfigurations")
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"

_names = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_names)}"


def status_body(e: ApiException) -> dict[str, Any]:
    body = error_body(e)
    assert body["kind"] == "Status" and body["apiVersion"] == "v1"
    assert body["status"] == "Failure" and body["code"] == e.status
    return dict(body)


def rv(obj: Any) -> int:
    md = obj["metadata"] if isinstance(obj, dict) else obj.metadata
    value = md["resourceVersion"] if isinstance(md, dict) else md.resource_version
    return int(value)


def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def gone(read: Callable[[], Any]) -> bool:
    try:
        read()
    except ApiException as e:
        if e.status == 404:
            return True
        raise
    return False


# ---- fixtures: one plain cluster (KubeSphere's types served, no KubeSphere installed) -------


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    kubeconfig = tmp_path_factory.mktemp("sim-api") / "kubeconfig"
    w = loader.start_fresh([CLUSTER], kubeconfig=kubeconfig, join_delay=0.05)
    w.kubeconfig_path = kubeconfig  # type: ignore[attr-defined]
    yield w
    w.stop()
    assert w.controller_errors == []


@pytest.fixture(scope="module")
def api(world: World) -> Iterator[client.ApiClient]:
    path: Path = world.kubeconfig_path  # type: ignore[attr-defined]
    a = new_client(str(path), CLUSTER)
    yield a
    close(a)


@pytest.fixture(scope="module")
def core(api: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api)


@pytest.fixture(scope="module")
def custom(api: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api)


@pytest.fixture
def ns(core: client.CoreV1Api) -> Iterator[str]:
    """A fresh namespace for one test; removed (with its contents) afterwards."""
    name = unique("t")
    core.create_namespace(model(V1Namespace, {"metadata": {"name": name}}))
    yield name
    try:
        core.delete_namespace(name)
    except ApiException as e:
        if e.status != 404:
            raise


# ---- CRUD ---------------------------------------------------------------------------------


def test_namespace_lifecycle(core: client.CoreV1Api) -> None:
    before = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    created = core.create_namespace(
        model(V1Namespace, {"metadata": {"name": "crud-ns", "labels": {"a": "1"}}})
    )
    md = created.metadata
    assert md.uid and len(md.uid) == 36
    assert before <= md.creation_timestamp <= datetime.now(UTC) + timedelta(seconds=1)
    assert md.labels == {"a": "1", "kubernetes.io/metadata.name": "crud-ns"}
    assert created.status.phase == "Active"
    assert created.spec.finalizers == ["kubernetes"]

    got = core.read_namespace("crud-ns")
    assert (got.metadata.uid, got.metadata.resource_version) == (md.uid, md.resource_version)
    assert "crud-ns" in {n.metadata.name for n in core.list_namespace().items}

    got.metadata.labels["b"] = "2"
    replaced = core.replace_namespace("crud-ns", got)
    assert replaced.metadata.labels["b"] == "2"
    assert rv(replaced) > rv(created)
    assert replaced.metadata.uid == md.uid
    assert replaced.metadata.creation_timestamp == md.creation_timestamp

    patched = core.patch_namespace(
        "crud-ns", {"metadata": {"labels": {"a": None}}}, _content_type=MERGE
    )
    assert "a" not in patched.metadata.labels and patched.metadata.labels["b"] == "2"
    assert rv(patched) > rv(replaced)

    core.delete_namespace("crud-ns")
    eventually(lambda: gone(lambda: core.read_namespace("crud-ns")))


def _configmap_ops(core: client.CoreV1Api, ns: str) -> dict[str, Callable[..., Any]]:
    return {
        "body": lambda name: {"metadata": {"name": name}, "data": {"k": "v"}},
        "create": lambda body: core.create_namespaced_config_map(ns, body),
        "read": lambda name: core.read_namespaced_config_map(name, ns),
        "list": lambda: core.list_namespaced_config_map(ns),
        "replace": lambda name, body: core.replace_namespaced_config_map(name, ns, body),
        "patch": lambda name, body: core.patch_namespaced_config_map(name, ns, body),
        "delete": lambda name: core.delete_namespaced_config_map(name, ns),
    }


def _secret_ops(core: client.CoreV1Api, ns: str) -> dict[str, Callable[..., Any]]:
    return {
        "body": lambda name: {"metadata": {"name": name}, "type": "Opaque", "data": {"k": "dg=="}},
        "create": lambda body: core.create_namespaced_secret(ns, body),
        "read": lambda name: core.read_namespaced_secret(name, ns),
        "list": lambda: core.list_namespaced_secret(ns),
        "replace": lambda name, body: core.replace_namespaced_secret(name, ns, body),
        "patch": lambda name, body: core.patch_namespaced_secret(name, ns, body),
        "delete": lambda name: core.delete_namespaced_secret(name, ns),
    }


def _serviceaccount_ops(core: client.CoreV1Api, ns: str) -> dict[str, Callable[..., Any]]:
    return {
        "body": lambda name: {"metadata": {"name": name}},
        "create": lambda body: core.create_namespaced_service_account(ns, body),
        "read": lambda name: core.read_namespaced_service_account(name, ns),
        "list": lambda: core.list_namespaced_service_account(ns),
        "replace": lambda name, body: core.replace_namespaced_service_account(name, ns, body),
        "patch": lambda name, body: core.patch_namespaced_service_account(name, ns, body),
        "delete": lambda name: core.delete_namespaced_service_account(name, ns),
    }


def _lease_ops(core: client.CoreV1Api, ns: str) -> dict[str, Callable[..., Any]]:
    leases = client.CoordinationV1Api(core.api_client)
    return {
        "body": lambda name: {
            "metadata": {"name": name},
            "spec": {"holderIdentity": "bot-0", "leaseDurationSeconds": 15},
        },
        "create": lambda body: leases.create_namespaced_lease(ns, body),
        "read": lambda name: leases.read_namespaced_lease(name, ns),
        "list": lambda: leases.list_namespaced_lease(ns),
        "replace": lambda name, body: leases.replace_namespaced_lease(name, ns, body),
        "patch": lambda name, body: leases.patch_namespaced_lease(name, ns, body),
        "delete": lambda name: leases.delete_namespaced_lease(name, ns),
    }


@pytest.mark.parametrize(
    "ops_for",
    [_configmap_ops, _secret_ops, _serviceaccount_ops, _lease_ops],
    ids=["configmap", "secret", "serviceaccount", "lease"],
)
def test_namespaced_crud(
    core: client.CoreV1Api, ns: str, ops_for: Callable[..., dict[str, Callable[..., Any]]]
) -> None:
    ops = ops_for(core, ns)
    created = ops["create"](ops["body"]("one"))
    assert created.metadata.namespace == ns and created.metadata.uid
    assert created.metadata.creation_timestamp is not None
    read = ops["read"]("one")
    assert read.metadata.uid == created.metadata.uid
    assert read.metadata.resource_version == created.metadata.resource_version

    ops["create"](ops["body"]("two"))
    listed = ops["list"]()
    assert [i.metadata.name for i in listed.items] == ["one", "two"]
    assert int(listed.metadata.resource_version) >= max(rv(i) for i in listed.items)

    read.metadata.labels = {"replaced": "yes"}
    replaced = ops["replace"]("one", read)
    assert replaced.metadata.labels == {"replaced": "yes"} and rv(replaced) > rv(created)
    patched = ops["patch"]("one", {"metadata": {"annotations": {"patched": "yes"}}})
    assert patched.metadata.annotations == {"patched": "yes"}
    assert patched.metadata.labels == {"replaced": "yes"} and rv(patched) > rv(replaced)

    ops["delete"]("one")
    with pytest.raises(ApiException) as e:
        ops["read"]("one")
    assert e.value.status == 404
    assert [i.metadata.name for i in ops["list"]().items] == ["two"]


def test_cluster_scoped_custom_object_crud(custom: client.CustomObjectsApi) -> None:
    body = {
        "apiVersion": "tenant.kubesphere.io/v1alpha2",
        "kind": "WorkspaceTemplate",
        "metadata": {"name": "crud-ws"},
        "spec": {"template": {"spec": {"manager": "admin"}}},
    }
    created = custom.create_cluster_custom_object(*TENANT, body)
    assert created["metadata"]["uid"] and created["metadata"]["generation"] == 1
    assert "namespace" not in created["metadata"]
    got = as_dict(custom.get_cluster_custom_object(*TENANT, "crud-ws"))
    assert got["metadata"]["uid"] == created["metadata"]["uid"]
    listed = custom.list_cluster_custom_object(*TENANT)
    assert listed["kind"] == "WorkspaceTemplateList"
    assert listed["apiVersion"] == "tenant.kubesphere.io/v1alpha2"
    assert "crud-ws" in [i["metadata"]["name"] for i in listed["items"]]

    got["spec"]["placement"] = {"clusters": [{"name": "member-a"}]}
    replaced = custom.replace_cluster_custom_object(*TENANT, "crud-ws", got)
    assert replaced["spec"]["placement"]["clusters"] == [{"name": "member-a"}]
    assert replaced["metadata"]["generation"] == 2 and rv(replaced) > rv(created)

    # a metadata-only change does not bump the generation, as for any custom resource
    patched = custom.patch_cluster_custom_object(
        *TENANT, "crud-ws", {"metadata": {"labels": {"x": "y"}}}
    )
    assert patched["metadata"]["labels"] == {"x": "y"}
    assert patched["metadata"]["generation"] == 2

    custom.delete_cluster_custom_object(*TENANT, "crud-ws")
    with pytest.raises(ApiException) as e:
        custom.get_cluster_custom_object(*TENANT, "crud-ws")
    assert e.value.status == 404


def test_namespaced_custom_object_crud(custom: client.CustomObjectsApi, ns: str) -> None:
    body = {
        "apiVersion": "installer.kubesphere.io/v1alpha1",
        "kind": "ClusterConfiguration",
        "metadata": {"name": "cc-test", "labels": {"version": "v3.4.1"}},
        "spec": {"multicluster": {"clusterRole": "none"}},
    }
    created = custom.create_namespaced_custom_object(*INSTALLER[:2], ns, INSTALLER[2], body)
    assert created["metadata"]["namespace"] == ns
    got = as_dict(custom.get_namespaced_custom_object(*INSTALLER[:2], ns, INSTALLER[2], "cc-test"))
    got["spec"]["multicluster"]["clusterRole"] = "member"
    replaced = custom.replace_namespaced_custom_object(
        *INSTALLER[:2], ns, INSTALLER[2], "cc-test", got
    )
    assert replaced["spec"]["multicluster"]["clusterRole"] == "member"
    patched = custom.patch_namespaced_custom_object(
        *INSTALLER[:2], ns, INSTALLER[2], "cc-test", {"spec": {"logging": {"enabled": True}}}
    )
    assert patched["spec"] == {
        "multicluster": {"clusterRole": "member"},
        "logging": {"enabled": True},
    }
    everywhere = custom.list_custom_object_for_all_namespaces(*INSTALLER)
    assert (ns, "cc-test") in {
        (i["metadata"]["namespace"], i["metadata"]["name"]) for i in everywhere["items"]
    }
    custom.delete_namespaced_custom_object(*INSTALLER[:2], ns, INSTALLER[2], "cc-test")
    listed = custom.list_namespaced_custom_object(*INSTALLER[:2], ns, INSTALLER[2])
    assert listed["items"] == []


def test_resource_versions_increase_across_kinds(
    core: client.CoreV1Api, custom: client.CustomObjectsApi, ns: str
) -> None:
    seen = [
        rv(core.create_namespaced_config_map(ns, model(V1ConfigMap, {"metadata": {"name": "a"}}))),
        rv(core.create_namespaced_secret(ns, model(V1Secret, {"metadata": {"name": "b"}}))),
        rv(
            custom.create_cluster_custom_object(
                *TENANT, {"metadata": {"name": unique("rv")}, "spec": {}}
            )
        ),
        rv(core.patch_namespaced_config_map("a", ns, {"data": {"x": "1"}})),
        rv(
            core.create_namespaced_service_account(
                ns, model(V1ServiceAccount, {"metadata": {"name": "c"}})
            )
        ),
    ]
    assert seen == sorted(seen) and len(set(seen)) == len(seen)
    assert rv(core.list_namespaced_config_map(ns)) >= seen[-1]
    uids = {core.read_namespaced_config_map("a", ns).metadata.uid}
    core.delete_namespaced_config_map("a", ns)
    again = core.create_namespaced_config_map(ns, model(V1ConfigMap, {"metadata": {"name": "a"}}))
    assert again.metadata.uid not in uids  # a re-created object is a new object


def test_dry_run_and_delete_collection(core: client.CoreV1Api, ns: str) -> None:
    dry = core.create_namespaced_config_map(
        ns, model(V1ConfigMap, {"metadata": {"name": "dry"}}), dry_run="All"
    )
    assert dry.metadata.name == "dry" and dry.metadata.resource_version is None
    assert gone(lambda: core.read_namespaced_config_map("dry", ns))
    for name, labels in (("a", {"sweep": "yes"}), ("b", {"sweep": "yes"}), ("c", {})):
        core.create_namespaced_config_map(
            ns, model(V1ConfigMap, {"metadata": {"name": name, "labels": labels}})
        )
    core.patch_namespaced_config_map("c", ns, {"data": {"x": "1"}}, dry_run="All")
    assert core.read_namespaced_config_map("c", ns).data is None
    core.delete_collection_namespaced_config_map(ns, label_selector="sweep=yes")
    assert [i.metadata.name for i in core.list_namespaced_config_map(ns).items] == ["c"]


def test_nodes(core: client.CoreV1Api) -> None:
    nodes = core.list_node().items
    assert [n.metadata.name for n in nodes] == [f"{CLUSTER}-node-{i}" for i in (1, 2, 3)]
    assert {n.status.node_info.kubelet_version for n in nodes} == {"v1.26.7"}


# ---- errors -------------------------------------------------------------------------------


def test_stale_resource_version_is_a_conflict(core: client.CoreV1Api, ns: str) -> None:
    cm = core.create_namespaced_config_map(
        ns, model(V1ConfigMap, {"metadata": {"name": "cm"}, "data": {"n": "0"}})
    )
    core.patch_namespaced_config_map("cm", ns, {"data": {"n": "1"}})
    cm.data = {"n": "2"}
    with pytest.raises(ApiException) as e:
        core.replace_namespaced_config_map("cm", ns, cm)
    assert e.value.status == 409
    body = status_body(e.value)
    assert body["reason"] == "Conflict"
    assert body["message"] == (
        'Operation cannot be fulfilled on configmaps "cm": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )
    assert body["details"] == {"name": "cm", "kind": "configmaps"}
    assert core.read_namespaced_config_map("cm", ns).data == {"n": "1"}
    # the same stale version in a merge patch is refused too
    with pytest.raises(ApiException) as e:
        core.patch_namespaced_config_map(
            "cm",
            ns,
            {"metadata": {"resourceVersion": cm.metadata.resource_version}, "data": {"n": "3"}},
            _content_type=MERGE,
        )
    assert e.value.status == 409 and error_body(e.value)["reason"] == "Conflict"


def test_duplicate_create_is_already_exists(
    core: client.CoreV1Api, custom: client.CustomObjectsApi, ns: str
) -> None:
    core.create_namespaced_config_map(ns, model(V1ConfigMap, {"metadata": {"name": "dup"}}))
    with pytest.raises(ApiException) as e:
        core.create_namespaced_config_map(ns, model(V1ConfigMap, {"metadata": {"name": "dup"}}))
    assert e.value.status == 409
    body = status_body(e.value)
    assert body["reason"] == "AlreadyExists"
    assert body["message"] == 'configmaps "dup" already exists'
    name = unique("dup")
    custom.create_cluster_custom_object(*TENANT, {"metadata": {"name": name}, "spec": {}})
    with pytest.raises(ApiException) as e:
        custom.create_cluster_custom_object(*TENANT, {"metadata": {"name": name}, "spec": {}})
    body = status_body(e.value)
    assert body["reason"] == "AlreadyExists"
    assert body["message"] == f'workspacetemplates.tenant.kubesphere.io "{name}" already exists'
    assert body["details"] == {
        "name": name,
        "group": "tenant.kubesphere.io",
        "kind": "workspacetemplates",
    }


def test_not_found_has_the_real_shape(
    core: client.CoreV1Api, custom: client.CustomObjectsApi, ns: str
) -> None:
    with pytest.raises(ApiException) as e:
        core.read_namespaced_config_map("nope", ns)
    assert e.value.status == 404
    assert status_body(e.value) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'configmaps "nope" not found',
        "reason": "NotFound",
        "details": {"name": "nope", "kind": "configmaps"},
        "code": 404,
    }
    with pytest.raises(ApiException) as e:
        client.CoordinationV1Api(core.api_client).read_namespaced_lease("nope", ns)
    assert status_body(e.value)["message"] == 'leases.coordination.k8s.io "nope" not found'
    with pytest.raises(ApiException) as e:
        custom.delete_cluster_custom_object(*TENANT, "nope")
    body = status_body(e.value)
    assert body["message"] == 'workspacetemplates.tenant.kubesphere.io "nope" not found'
    assert body["details"]["group"] == "tenant.kubesphere.io"
    with pytest.raises(ApiException) as e:
        custom.list_cluster_custom_object("tenant.kubesphere.io", "v1alpha2", "nothings")
    assert e.value.status == 404
    assert status_body(e.value)["message"] == "the server could not find the requested resource"


def test_invalid_names_and_labels_are_422(core: client.CoreV1Api, ns: str) -> None:
    with pytest.raises(ApiException) as e:
        core.create_namespace(model(V1Namespace, {"metadata": {"name": "Ns_1"}}))
    assert e.value.status == 422
    body = status_body(e.value)
    assert body["reason"] == "Invalid"
    assert body["message"].startswith(
        'Namespace "Ns_1" is invalid: metadata.name: Invalid value: "Ns_1": '
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'"
    )
    assert body["details"]["kind"] == "Namespace" and body["details"]["name"] == "Ns_1"
    assert [c["field"] for c in body["details"]["causes"]] == ["metadata.name"]
    assert gone(lambda: core.read_namespace("Ns_1"))

    with pytest.raises(ApiException) as e:
        core.create_namespaced_config_map(
            ns, model(V1ConfigMap, {"metadata": {"name": "ok", "labels": {"bad key!": "v"}}})
        )
    assert e.value.status == 422
    assert status_body(e.value)["details"]["causes"][0]["field"] == "metadata.labels"
    with pytest.raises(ApiException) as e:
        core.create_namespaced_config_map(ns, model(V1ConfigMap, {"metadata": {}}))
    assert e.value.status == 422
    assert "name or generateName is required" in status_body(e.value)["message"]


def test_put_with_another_name_is_400(core: client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_config_map(ns, model(V1ConfigMap, {"metadata": {"name": "left"}}))
    core.create_namespaced_config_map(ns, model(V1ConfigMap, {"metadata": {"name": "right"}}))
    body = core.read_namespaced_config_map("right", ns)
    with pytest.raises(ApiException) as e:
        core.replace_namespaced_config_map("left", ns, body)
    assert e.value.status == 400
    b = status_body(e.value)
    assert b["reason"] == "BadRequest"
    assert b["message"] == (
        "the name of the object (right) does not match the name on the URL (left)"
    )


def test_create_in_a_missing_namespace_is_404(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as e:
        core.create_namespaced_config_map(
            "no-such-ns", model(V1ConfigMap, {"metadata": {"name": "x"}})
        )
    assert e.value.status == 404
    assert status_body(e.value)["message"] == 'namespaces "no-such-ns" not found'


def test_generate_name(core: client.CoreV1Api, ns: str) -> None:
    a = core.create_namespaced_config_map(
        ns, model(V1ConfigMap, {"metadata": {"generateName": "gen-"}})
    )
    b = core.create_namespaced_config_map(
        ns, model(V1ConfigMap, {"metadata": {"generateName": "gen-"}})
    )
    assert a.metadata.name.startswith("gen-") and b.metadata.name.startswith("gen-")
    assert a.metadata.name != b.metadata.name


def test_secret_type_defaults_to_opaque(core: client.CoreV1Api, ns: str) -> None:
    assert (
        core.create_namespaced_secret(ns, model(V1Secret, {"metadata": {"name": "s"}})).type
        == "Opaque"
    )
    tls = core.create_namespaced_secret(
        ns, model(V1Secret, {"metadata": {"name": "t"}, "type": "kubernetes.io/tls", "data": {}})
    )
    assert tls.type == "kubernetes.io/tls"


def test_namespace_status_and_spec_change_only_through_subresources(
    core: client.CoreV1Api,
) -> None:
    name = unique("sub")
    ns = core.create_namespace(model(V1Namespace, {"metadata": {"name": name}}))
    ns.status.phase = "Terminating"
    ns.spec.finalizers = []
    ns.metadata.labels["touched"] = "yes"
    replaced = core.replace_namespace(name, ns)
    assert replaced.metadata.labels["touched"] == "yes"
    assert replaced.status.phase == "Active" and replaced.spec.finalizers == ["kubernetes"]

    condition = {"type": "NamespaceDeletionContentFailure", "status": "False", "reason": "x"}
    patched = core.patch_namespace_status(
        name, {"status": {"conditions": [condition]}}, _content_type=MERGE
    )
    assert patched.status.conditions[0].type == "NamespaceDeletionContentFailure"
    assert core.read_namespace_status(name).status.phase == "Active"

    current = core.read_namespace(name)
    current.spec.finalizers = []
    finalized = core.replace_namespace_finalize(name, current)
    assert finalized.spec.finalizers in (None, [])
    assert finalized.status.conditions[0].reason == "x"
    core.delete_namespace(name)


def test_custom_resources_have_no_status_subresource(custom: client.CustomObjectsApi) -> None:
    name = unique("nostatus")
    custom.create_cluster_custom_object(*TENANT, {"metadata": {"name": name}, "spec": {}})
    clusters = ("cluster.kubesphere.io", "v1alpha1", "clusters")
    custom.create_cluster_custom_object(*clusters, {"metadata": {"name": name}, "spec": {}})
    with pytest.raises(ApiException) as e:
        custom.get_cluster_custom_object_status(*clusters, name)
    assert e.value.status == 404
    with pytest.raises(ApiException) as e:
        custom.patch_cluster_custom_object_status(*clusters, name, {"status": {"uid": "x"}})
    assert e.value.status == 404
    # status is written with an ordinary patch instead, as the doc says of the Cluster CRD
    patched = custom.patch_cluster_custom_object(*clusters, name, {"status": {"uid": "x"}})
    assert patched["status"] == {"uid": "x"}


# kubectl's `create namespace pbns` and `create secret generic pbsec --from-literal=x=y`, as
# captured on the wire: client-go's typed clients send protobuf
KUBECTL_NAMESPACE = (
    b'k8s\x00\n\x0f\n\x02v1\x12\tNamespace\x12\x1c\n\x14\n\x04pbns\x12\x00\x1a\x00"\x00'
    b'*\x002\x008\x00B\x00\x12\x00\x1a\x02\n\x00\x1a\x00"\x00'
)
KUBECTL_SECRET = (
    b"k8s\x00\n\x0c\n\x02v1\x12\x06Secret\x12(\n\x1c\n\x05pbsec\x12\x00\x1a\x07scratch"
    b'"\x00*\x002\x008\x00B\x00\x12\x06\n\x01x\x12\x01y\x1a\x00\x1a\x00"\x00'
)


def _post_protobuf(api: client.ApiClient, path: str, body: bytes) -> Any:
    method, url, headers, _, _ = api.param_serialize(
        "POST",
        path,
        header_params={"Content-Type": "application/vnd.kubernetes.protobuf"},
        auth_settings=["BearerToken"],
    )
    resp = api.call_api(method, url, headers, body=body)
    resp.read()  # type: ignore[no-untyped-call]  # unannotated in kubernetes
    return resp


def test_protobuf_request_bodies(api: client.ApiClient, core: client.CoreV1Api) -> None:
    resp = _post_protobuf(api, "/api/v1/namespaces", KUBECTL_NAMESPACE)
    assert resp.status == 201
    assert core.read_namespace("pbns").status.phase == "Active"
    core.create_namespace(model(V1Namespace, {"metadata": {"name": "scratch"}}))
    assert _post_protobuf(api, "/api/v1/namespaces/scratch/secrets", KUBECTL_SECRET).status == 201
    secret = core.read_namespaced_secret("pbsec", "scratch")
    assert secret.data == {"x": "eQ=="} and secret.type == "Opaque"
    bad = _post_protobuf(api, "/api/v1/namespaces", b"k8s\x00\xff")
    assert bad.status == 415
    assert json.loads(bad.data)["reason"] == "UnsupportedMediaType"
    for n in ("pbns", "scratch"):
        core.delete_namespace(n)


# ---- lists and selectors ------------------------------------------------------------------


@pytest.fixture(scope="module")
def labelled(core: client.CoreV1Api) -> str:
    """A namespace of configmaps with labels to select on (read-only for the tests using it)."""
    name = unique("sel")
    core.create_namespace(model(V1Namespace, {"metadata": {"name": name}}))
    for cm, labels in {
        "web-prod": {"app": "web", "env": "prod"},
        "web-dev": {"app": "web", "env": "dev"},
        "db-prod": {"app": "db", "env": "prod", "tier": "data"},
        "bare": {},
    }.items():
        core.create_namespaced_config_map(
            name, model(V1ConfigMap, {"metadata": {"name": cm, "labels": labels}})
        )
    return name


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=web", ["web-dev", "web-prod"]),
        ("app==db", ["db-prod"]),
        ("env!=prod", ["bare", "web-dev"]),
        ("env in (dev,staging)", ["web-dev"]),
        ("app notin (web)", ["bare", "db-prod"]),
        ("tier", ["db-prod"]),
        ("!tier", ["bare", "web-dev", "web-prod"]),
        ("app=web,env=prod", ["web-prod"]),
        ("app in (web,db),!tier", ["web-dev", "web-prod"]),
    ],
)
def test_label_selectors(
    core: client.CoreV1Api, labelled: str, selector: str, expected: list[str]
) -> None:
    got = core.list_namespaced_config_map(labelled, label_selector=selector)
    assert [i.metadata.name for i in got.items] == expected


def test_bad_label_selector_is_400(core: client.CoreV1Api, labelled: str) -> None:
    with pytest.raises(ApiException) as e:
        core.list_namespaced_config_map(labelled, label_selector="app in web")
    assert e.value.status == 400 and status_body(e.value)["reason"] == "BadRequest"


def test_field_selectors(core: client.CoreV1Api, labelled: str) -> None:
    by_name = core.list_namespaced_config_map(labelled, field_selector="metadata.name=bare")
    assert [i.metadata.name for i in by_name.items] == ["bare"]
    not_name = core.list_namespaced_config_map(labelled, field_selector="metadata.name!=bare")
    assert len(not_name.items) == 3
    everywhere = core.list_config_map_for_all_namespaces(
        field_selector=f"metadata.namespace={labelled}"
    )
    assert {i.metadata.namespace for i in everywhere.items} == {labelled}
    assert len(everywhere.items) == 4
    both = core.list_config_map_for_all_namespaces(
        field_selector=f"metadata.namespace={labelled},metadata.name=web-dev",
        label_selector="env=dev",
    )
    assert [(i.metadata.namespace, i.metadata.name) for i in both.items] == [(labelled, "web-dev")]
    namespaces = core.list_namespace(field_selector=f"metadata.name={labelled}")
    assert [n.metadata.name for n in namespaces.items] == [labelled]
    with pytest.raises(ApiException) as e:
        core.list_namespaced_config_map(labelled, field_selector="spec.nodeName=x")
    assert e.value.status == 400


def test_list_shape(core: client.CoreV1Api, labelled: str) -> None:
    raw = core.list_namespaced_config_map(labelled, _preload_content=False)
    body = json.loads(raw_body(raw))
    assert body["kind"] == "ConfigMapList" and body["apiVersion"] == "v1"
    assert int(body["metadata"]["resourceVersion"]) >= max(rv(i) for i in body["items"])
    assert "continue" not in body["metadata"]
    ns_list = json.loads(raw_body(core.list_namespace(_preload_content=False)))
    assert (ns_list["kind"], ns_list["apiVersion"]) == ("NamespaceList", "v1")
    leases = json.loads(
        raw_body(
            client.CoordinationV1Api(core.api_client).list_lease_for_all_namespaces(
                _preload_content=False
            )
        )
    )
    assert (leases["kind"], leases["apiVersion"]) == ("LeaseList", "coordination.k8s.io/v1")


def test_paging_over_1200_configmaps(core: client.CoreV1Api, ns: str) -> None:
    for i in range(1200):
        labels = {"even": "yes"} if i % 2 == 0 else {}
        core.create_namespaced_config_map(
            ns, model(V1ConfigMap, {"metadata": {"name": f"cm-{i:04d}", "labels": labels}})
        )
    names: list[str] = []
    pages: list[tuple[int, int | None]] = []
    token = None
    while True:
        page = core.list_namespaced_config_map(ns, limit=500, _continue=token)
        names += [name_of(i.metadata) for i in page.items]
        pages.append((len(page.items), page.metadata.remaining_item_count))
        token = page.metadata._continue
        if not token:
            break
    assert pages == [(500, 700), (500, 200), (200, None)]
    assert names == [f"cm-{i:04d}" for i in range(1200)]

    # paging with a selector pages over the matching objects only
    selected: list[str] = []
    token = None
    while True:
        page = core.list_namespaced_config_map(
            ns, limit=250, _continue=token, label_selector="even=yes"
        )
        assert len(page.items) <= 250
        selected += [name_of(i.metadata) for i in page.items]
        token = page.metadata._continue
        if not token:
            break
    assert selected == [f"cm-{i:04d}" for i in range(0, 1200, 2)]

    with pytest.raises(ApiException) as e:
        core.list_namespaced_config_map(ns, limit=10, _continue="not-a-token")
    assert e.value.status == 400


# ---- watch --------------------------------------------------------------------------------


def test_watch_from_resource_version(core: client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_config_map(ns, model(V1ConfigMap, {"metadata": {"name": "before"}}))
    start = core.list_namespaced_config_map(ns).metadata.resource_version
    core.create_namespaced_config_map(
        ns, model(V1ConfigMap, {"metadata": {"name": "w"}, "data": {"n": "1"}})
    )
    core.patch_namespaced_config_map("w", ns, {"data": {"n": "2"}})
    core.delete_namespaced_config_map("w", ns)

    events: list[tuple[str, str, dict[str, str] | None]] = []
    w = Watch()
    for ev in w.stream(
        core.list_namespaced_config_map, ns, resource_version=start, timeout_seconds=5
    ):
        events.append((ev["type"], ev["object"].metadata.name, ev["object"].data))
        if ev["type"] == "DELETED":
            w.stop()
    assert events == [
        ("ADDED", "w", {"n": "1"}),
        ("MODIFIED", "w", {"n": "2"}),
        ("DELETED", "w", {"n": "2"}),
    ]


def test_watch_without_version_lists_first_then_streams(core: client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_config_map(ns, model(V1ConfigMap, {"metadata": {"name": "old"}}))
    w = Watch()
    seen: list[tuple[str, str]] = []
    for ev in w.stream(core.list_namespaced_config_map, ns, timeout_seconds=5):
        seen.append((ev["type"], ev["object"].metadata.name))
        if len(seen) == 1:
            core.create_namespaced_config_map(ns, model(V1ConfigMap, {"metadata": {"name": "new"}}))
        if len(seen) == 2:
            w.stop()
    assert seen == [("ADDED", "old"), ("ADDED", "new")]


def test_watch_ends_at_timeout_seconds(core: client.CoreV1Api, ns: str) -> None:
    started = time.monotonic()
    events = list(Watch().stream(core.list_namespaced_config_map, ns, timeout_seconds=1))
    elapsed = time.monotonic() - started
    assert events == []
    assert 0.9 <= elapsed < 3


def test_watch_with_selector_reports_entering_and_leaving(core: client.CoreV1Api, ns: str) -> None:
    start = core.create_namespaced_config_map(
        ns, model(V1ConfigMap, {"metadata": {"name": "s"}})
    ).metadata
    core.create_namespaced_config_map(
        ns, model(V1ConfigMap, {"metadata": {"name": "other", "labels": {"pick": "no"}}})
    )
    core.patch_namespaced_config_map("s", ns, {"metadata": {"labels": {"pick": "me"}}})
    core.patch_namespaced_config_map("s", ns, {"metadata": {"annotations": {"a": "b"}}})
    core.patch_namespaced_config_map(
        "s", ns, {"metadata": {"labels": {"pick": None}}}, _content_type=MERGE
    )
    w = Watch()
    seen = []
    for ev in w.stream(
        core.list_namespaced_config_map,
        ns,
        label_selector="pick=me",
        resource_version=start.resource_version,
        timeout_seconds=5,
    ):
        seen.append((ev["type"], ev["object"].metadata.name))
        if ev["type"] == "DELETED":
            w.stop()
    # entering the selection is ADDED, leaving it DELETED; "other" never matches
    assert seen == [("ADDED", "s"), ("MODIFIED", "s"), ("DELETED", "s")]


def test_watch_custom_objects(custom: client.CustomObjectsApi) -> None:
    name = unique("watched-ws")
    start = custom.list_cluster_custom_object(*TENANT)["metadata"]["resourceVersion"]
    custom.create_cluster_custom_object(*TENANT, {"metadata": {"name": name}, "spec": {}})
    custom.patch_cluster_custom_object(*TENANT, name, {"spec": {"template": {}}})
    custom.delete_cluster_custom_object(*TENANT, name)
    w = Watch()
    seen = []
    for ev in w.stream(
        custom.list_cluster_custom_object, *TENANT, resource_version=start, timeout_seconds=5
    ):
        seen.append((ev["type"], ev["object"]["metadata"]["name"], ev["object"].get("spec")))
        if ev["type"] == "DELETED":
            w.stop()
    assert seen == [
        ("ADDED", name, {}),
        ("MODIFIED", name, {"template": {}}),
        ("DELETED", name, {"template": {}}),
    ]


def test_watch_from_a_compacted_version_is_410(world: World, core: client.CoreV1Api) -> None:
    from k8s.sim.store import HISTORY

    name = unique("compact")
    core.create_namespace(model(V1Namespace, {"metadata": {"name": name}}))
    old = core.create_namespaced_config_map(
        name, model(V1ConfigMap, {"metadata": {"name": "c"}})
    ).metadata
    store = world.clusters[CLUSTER].store
    # Compaction happens when the event history is full: push HISTORY more events in-process
    # (over HTTP this would take minutes); the watch itself still goes over HTTP.
    with world.lock:
        for i in range(HISTORY + 1):
            store.patch(CONFIGMAPS, name, "c", json.dumps({"data": {"i": str(i)}}).encode(), MERGE)
    assert old.resource_version is not None
    assert store.compacted_rv > int(old.resource_version)
    with pytest.raises(ApiException) as e:
        for _ in Watch().stream(
            core.list_namespaced_config_map,
            name,
            resource_version=old.resource_version,
            timeout_seconds=2,
        ):
            pass
    assert e.value.status == 410
    assert "Expired: too old resource version" in str(e.value.reason)
    core.delete_namespace(name)


# ---- patches ------------------------------------------------------------------------------


def test_merge_patch_null_removes_and_empty_list_clears(core: client.CoreV1Api) -> None:
    owner = core.create_namespace(model(V1Namespace, {"metadata": {"name": unique("owner")}}))
    ref = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "name": owner.metadata.name,
        "uid": owner.metadata.uid,
    }
    name = unique("mp")
    core.create_namespace(
        model(
            V1Namespace,
            {
                "metadata": {
                    "name": name,
                    "labels": {"keep": "1", "drop": "1"},
                    "ownerReferences": [ref],
                }
            },
        )
    )
    patched = core.patch_namespace(
        name,
        {"metadata": {"labels": {"drop": None}, "ownerReferences": []}},
        _content_type=MERGE,
    )
    assert patched.metadata.labels == {"keep": "1", "kubernetes.io/metadata.name": name}
    assert patched.metadata.owner_references is None
    assert core.read_namespace(name).metadata.owner_references is None
    for n in (name, name_of(owner.metadata)):
        core.delete_namespace(n)


def test_json_patch_operations(core: client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_config_map(
        ns,
        model(
            V1ConfigMap,
            {"metadata": {"name": "jp", "labels": {"a": "1"}}, "data": {"x": "1", "y": "2"}},
        ),
    )
    ops = [
        {"op": "test", "path": "/data/x", "value": "1"},
        {"op": "add", "path": "/metadata/labels/b", "value": "2"},
        {"op": "remove", "path": "/data/y"},
        {"op": "replace", "path": "/data/x", "value": "10"},
    ]
    patched = core.patch_namespaced_config_map("jp", ns, ops, _content_type=JSON_PATCH)
    assert patched.metadata.labels == {"a": "1", "b": "2"}
    assert patched.data == {"x": "10"}

    before = core.read_namespaced_config_map("jp", ns)
    failing = [
        {"op": "replace", "path": "/data/x", "value": "20"},
        {"op": "test", "path": "/data/x", "value": "999"},
    ]
    with pytest.raises(ApiException) as e:
        core.patch_namespaced_config_map("jp", ns, failing, _content_type=JSON_PATCH)
    assert e.value.status == 422
    after = core.read_namespaced_config_map("jp", ns)
    assert after.data == {"x": "10"}  # all or nothing
    assert after.metadata.resource_version == before.metadata.resource_version
    with pytest.raises(ApiException) as e:
        core.patch_namespaced_config_map(
            "jp", ns, [{"op": "remove", "path": "/data/missing"}], _content_type=JSON_PATCH
        )
    assert e.value.status == 422


def test_strategic_merge_on_namespaces(core: client.CoreV1Api) -> None:
    a = core.create_namespace(model(V1Namespace, {"metadata": {"name": unique("own-a")}})).metadata
    b = core.create_namespace(model(V1Namespace, {"metadata": {"name": unique("own-b")}})).metadata

    def ref(md: Any, **extra: Any) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Namespace", "name": md.name, "uid": md.uid, **extra}

    name = unique("smp")
    core.create_namespace(
        model(
            V1Namespace,
            {"metadata": {"name": name, "labels": {"one": "1"}, "ownerReferences": [ref(a)]}},
        )
    )
    # the client sends a dict body as a strategic merge patch: lists merge by uid, and a new
    # element goes in front of the live ones (strategicpatch.mergeSortedSlice)
    patched = core.patch_namespace(
        name, {"metadata": {"labels": {"two": "2"}, "ownerReferences": [ref(b)]}}
    )
    assert [r.uid for r in patched.metadata.owner_references] == [b.uid, a.uid]
    assert patched.metadata.labels["one"] == "1" and patched.metadata.labels["two"] == "2"
    updated = core.patch_namespace(
        name, {"metadata": {"ownerReferences": [ref(a, controller=True)]}}
    )
    refs = {r.uid: r for r in updated.metadata.owner_references}
    assert refs[a.uid].controller is True  # merged into the element with the same uid
    assert [r.uid for r in updated.metadata.owner_references] == [b.uid, a.uid]
    removed = core.patch_namespace(
        name, {"metadata": {"ownerReferences": [{"$patch": "delete", "uid": b.uid}]}}
    )
    assert [r.uid for r in removed.metadata.owner_references] == [a.uid]
    core.patch_namespace(name, {"metadata": {"labels": {"one": None}}})
    assert "one" not in core.read_namespace(name).metadata.labels
    for n in (name, name_of(a), name_of(b)):
        core.delete_namespace(n)


def test_strategic_merge_on_a_custom_object_is_415(custom: client.CustomObjectsApi) -> None:
    name = unique("smp-ws")
    custom.create_cluster_custom_object(*TENANT, {"metadata": {"name": name}, "spec": {}})
    with pytest.raises(ApiException) as e:
        custom.patch_cluster_custom_object(
            *TENANT, name, {"metadata": {"labels": {"a": "b"}}}, _content_type=STRATEGIC
        )
    assert e.value.status == 415
    assert status_body(e.value)["reason"] == "UnsupportedMediaType"
    patched = custom.patch_cluster_custom_object(
        *TENANT,
        name,
        [{"op": "add", "path": "/metadata/labels", "value": {"a": "b"}}],
        _content_type=JSON_PATCH,
    )
    assert patched["metadata"]["labels"] == {"a": "b"}


# ---- deletion: finalizers, namespaces, propagation, garbage collection ------------------


def test_finalizer_keeps_an_object_until_removed(core: client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_config_map(
        ns, model(V1ConfigMap, {"metadata": {"name": "held", "finalizers": ["example.com/hold"]}})
    )
    core.delete_namespaced_config_map("held", ns)
    held = core.read_namespaced_config_map("held", ns)
    assert held.metadata.deletion_timestamp is not None
    assert held.metadata.finalizers == ["example.com/hold"]
    core.delete_namespaced_config_map("held", ns)  # deleting again changes nothing
    assert core.read_namespaced_config_map("held", ns).metadata.resource_version == (
        held.metadata.resource_version
    )
    with pytest.raises(ApiException) as e:
        core.patch_namespaced_config_map(
            "held", ns, {"metadata": {"finalizers": ["example.com/hold", "example.com/more"]}}
        )
    assert e.value.status == 422
    core.patch_namespaced_config_map(
        "held", ns, {"metadata": {"finalizers": None}}, _content_type=MERGE
    )
    assert gone(lambda: core.read_namespaced_config_map("held", ns))


def test_namespace_terminates_and_its_contents_are_deleted(core: client.CoreV1Api) -> None:
    name = unique("term")
    core.create_namespace(
        model(V1Namespace, {"metadata": {"name": name, "finalizers": ["example.com/hold"]}})
    )
    core.create_namespaced_config_map(name, model(V1ConfigMap, {"metadata": {"name": "inside"}}))
    core.create_namespaced_secret(name, model(V1Secret, {"metadata": {"name": "inside"}}))
    core.delete_namespace(name)
    terminating = core.read_namespace(name)
    assert terminating.status.phase == "Terminating"
    assert terminating.metadata.deletion_timestamp is not None
    eventually(lambda: core.list_namespaced_config_map(name).items == [])
    assert core.list_namespaced_secret(name).items == []
    with pytest.raises(ApiException) as e:
        core.create_namespaced_config_map(name, model(V1ConfigMap, {"metadata": {"name": "late"}}))
    assert e.value.status == 403
    assert "because it is being terminated" in status_body(e.value)["message"]
    core.patch_namespace(name, {"metadata": {"finalizers": None}}, _content_type=MERGE)
    eventually(lambda: gone(lambda: core.read_namespace(name)))


def _owner_ref(md: Any, block: bool = False) -> dict[str, Any]:
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": md.name, "uid": md.uid}
    if block:
        ref["blockOwnerDeletion"] = True
    return ref


def _owner_and_dependent(
    core: client.CoreV1Api, ns: str, *, dep_finalizer: bool = False
) -> tuple[Any, Any]:
    owner = core.create_namespaced_config_map(
        ns, model(V1ConfigMap, {"metadata": {"name": "owner"}})
    ).metadata
    md: dict[str, Any] = {"name": "dep", "ownerReferences": [_owner_ref(owner, block=True)]}
    if dep_finalizer:
        md["finalizers"] = ["example.com/hold"]
    dep = core.create_namespaced_config_map(ns, model(V1ConfigMap, {"metadata": md})).metadata
    return owner, dep


def test_background_propagation_deletes_dependents(core: client.CoreV1Api, ns: str) -> None:
    _owner_and_dependent(core, ns)
    core.delete_namespaced_config_map("owner", ns, propagation_policy="Background")
    assert gone(lambda: core.read_namespaced_config_map("owner", ns))
    eventually(lambda: gone(lambda: core.read_namespaced_config_map("dep", ns)))


def test_default_propagation_is_background(core: client.CoreV1Api, ns: str) -> None:
    _owner_and_dependent(core, ns)
    core.delete_namespaced_config_map("owner", ns)
    eventually(lambda: gone(lambda: core.read_namespaced_config_map("dep", ns)))


def test_orphan_propagation_keeps_dependents(core: client.CoreV1Api, ns: str) -> None:
    _owner_and_dependent(core, ns)
    core.delete_namespaced_config_map(
        "owner", ns, body=client.V1DeleteOptions(propagation_policy="Orphan")
    )
    assert gone(lambda: core.read_namespaced_config_map("owner", ns))
    dep = core.read_namespaced_config_map("dep", ns)
    assert dep.metadata.owner_references is None and dep.metadata.deletion_timestamp is None


def test_foreground_propagation_waits_for_blocking_dependents(
    core: client.CoreV1Api, ns: str
) -> None:
    _owner_and_dependent(core, ns, dep_finalizer=True)
    resp = core.delete_namespaced_config_map(
        "owner", ns, propagation_policy="Foreground", _preload_content=False
    )
    lingering = json.loads(raw_body(resp))  # the object itself, not a Status: it is still there
    assert lingering["kind"] == "ConfigMap" and lingering["metadata"]["deletionTimestamp"]
    owner = core.read_namespaced_config_map("owner", ns)
    assert "foregroundDeletion" in owner.metadata.finalizers
    dep = core.read_namespaced_config_map("dep", ns)
    assert dep.metadata.deletion_timestamp is not None
    core.patch_namespaced_config_map(
        "dep", ns, {"metadata": {"finalizers": None}}, _content_type=MERGE
    )
    eventually(lambda: gone(lambda: core.read_namespaced_config_map("dep", ns)))
    eventually(lambda: gone(lambda: core.read_namespaced_config_map("owner", ns)))


def test_dependent_of_a_missing_owner_is_collected(core: client.CoreV1Api, ns: str) -> None:
    ghost = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": "ghost",
        "uid": "00000000-0000-0000-0000-000000000000",
    }
    core.create_namespaced_config_map(
        ns, model(V1ConfigMap, {"metadata": {"name": "orphan", "ownerReferences": [ghost]}})
    )
    eventually(lambda: gone(lambda: core.read_namespaced_config_map("orphan", ns)))


def test_dependent_with_two_owners_loses_only_the_dangling_ref(
    core: client.CoreV1Api, ns: str
) -> None:
    a = core.create_namespaced_config_map(
        ns, model(V1ConfigMap, {"metadata": {"name": "a"}})
    ).metadata
    b = core.create_namespaced_config_map(
        ns, model(V1ConfigMap, {"metadata": {"name": "b"}})
    ).metadata
    core.create_namespaced_config_map(
        ns,
        model(
            V1ConfigMap,
            {"metadata": {"name": "dep", "ownerReferences": [_owner_ref(a), _owner_ref(b)]}},
        ),
    )
    core.delete_namespaced_config_map("a", ns)

    def owners() -> int:
        refs = core.read_namespaced_config_map("dep", ns).metadata.owner_references
        assert refs is not None
        return len(refs)

    eventually(lambda: owners() == 1)
    refs = core.read_namespaced_config_map("dep", ns).metadata.owner_references
    assert [r.uid for r in refs] == [b.uid]
    core.delete_namespaced_config_map("b", ns)
    eventually(lambda: gone(lambda: core.read_namespaced_config_map("dep", ns)))

    # a dangling ref next to a live one is dropped on create as well
    c = core.create_namespaced_config_map(
        ns, model(V1ConfigMap, {"metadata": {"name": "c"}})
    ).metadata
    ghost = {**_owner_ref(c), "name": "ghost", "uid": "11111111-1111-1111-1111-111111111111"}
    core.create_namespaced_config_map(
        ns,
        model(
            V1ConfigMap, {"metadata": {"name": "dep2", "ownerReferences": [ghost, _owner_ref(c)]}}
        ),
    )
    eventually(
        lambda: (
            [r.uid for r in core.read_namespaced_config_map("dep2", ns).metadata.owner_references]
            == [c.uid]
        )
    )


def test_cluster_scoped_owner_collects_namespaced_dependents(
    core: client.CoreV1Api, custom: client.CustomObjectsApi, ns: str
) -> None:
    wt = custom.create_cluster_custom_object(
        *TENANT, {"metadata": {"name": unique("gc-owner")}, "spec": {}}
    )["metadata"]
    ref = {
        "apiVersion": "tenant.kubesphere.io/v1alpha2",
        "kind": "WorkspaceTemplate",
        "name": wt["name"],
        "uid": wt["uid"],
    }
    core.create_namespaced_secret(
        ns, model(V1Secret, {"metadata": {"name": "owned", "ownerReferences": [ref]}})
    )
    custom.delete_cluster_custom_object(*TENANT, wt["name"])
    eventually(lambda: gone(lambda: core.read_namespaced_secret("owned", ns)))


def test_service_proxy_without_kubesphere_is_404(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as e:
        core.connect_get_namespaced_service_proxy_with_path(
            "ks-apiserver:80", "kubesphere-system", "kapis/version"
        )
    assert e.value.status == 404
    assert status_body(e.value)["message"] == 'services "ks-apiserver" not found'


# ---- discovery ----------------------------------------------------------------------------


def _get(api: client.ApiClient, path: str) -> dict[str, Any]:
    """GET a path no typed API covers, through the client's own request machinery."""
    method, url, headers, _, _ = api.param_serialize("GET", path, auth_settings=["BearerToken"])
    resp = api.call_api(method, url, headers)
    resp.read()  # type: ignore[no-untyped-call]  # unannotated in kubernetes
    result = api.response_deserialize(resp, {"200": "object"})
    return dict(as_dict(result.data))


def test_discovery(api: client.ApiClient) -> None:
    versions = client.CoreApi(api).get_api_versions()
    assert versions.versions == ["v1"]

    core_resources = {r.name: r for r in client.CoreV1Api(api).get_api_resources().resources}
    assert core_resources["namespaces"].kind == "Namespace"
    assert core_resources["namespaces"].namespaced is False
    assert core_resources["namespaces"].short_names == ["ns"]
    assert core_resources["configmaps"].short_names == ["cm"]
    assert core_resources["configmaps"].namespaced is True
    assert core_resources["serviceaccounts"].short_names == ["sa"]
    assert set(core_resources["secrets"].verbs) >= {
        "create",
        "delete",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    }
    assert core_resources["namespaces/status"].short_names is None  # only on the main resource

    groups = {g.name: g for g in client.ApisApi(api).get_api_versions().groups}
    assert {
        "coordination.k8s.io",
        "cluster.kubesphere.io",
        "tenant.kubesphere.io",
        "installer.kubesphere.io",
        "iam.kubesphere.io",
        "core.kubefed.io",
        "types.kubefed.io",
    } <= set(groups)
    assert groups["tenant.kubesphere.io"].preferred_version.group_version == (
        "tenant.kubesphere.io/v1alpha2"
    )
    assert {v.version for v in groups["tenant.kubesphere.io"].versions} == {"v1alpha1", "v1alpha2"}

    group = _get(api, "/apis/cluster.kubesphere.io")
    assert group["kind"] == "APIGroup" and group["name"] == "cluster.kubesphere.io"
    assert group["preferredVersion"]["groupVersion"] == "cluster.kubesphere.io/v1alpha1"

    cc = client.CustomObjectsApi(api).get_api_resources("installer.kubesphere.io", "v1alpha1")
    assert cc.group_version == "installer.kubesphere.io/v1alpha1"
    (res,) = cc.resources
    assert (res.name, res.kind, res.namespaced, res.short_names) == (
        "clusterconfigurations",
        "ClusterConfiguration",
        True,
        ["cc"],
    )
    clusters = _get(api, "/apis/cluster.kubesphere.io/v1alpha1")
    assert clusters["kind"] == "APIResourceList"
    assert [(r["name"], r["namespaced"]) for r in clusters["resources"]] == [("clusters", False)]

    leases = _get(api, "/apis/coordination.k8s.io/v1")
    assert leases["groupVersion"] == "coordination.k8s.io/v1"
    assert leases["resources"][0]["kind"] == "Lease"

    version = client.VersionApi(api).get_code()
    assert version.git_version == "v1.26.7" and (version.major, version.minor) == ("1", "26")

    with pytest.raises(ApiException) as e:
        _get(api, "/apis/nothing.example.com")
    assert e.value.status == 404


def test_health_endpoints_answer_plain_ok(api: client.ApiClient) -> None:
    for path in ("/healthz", "/readyz", "/livez"):
        method, url, headers, _, _ = api.param_serialize("GET", path, auth_settings=["BearerToken"])
        resp = api.call_api(method, url, headers)
        body = resp.read()  # type: ignore[no-untyped-call]  # unannotated in kubernetes
        assert (resp.status, body) == (200, b"ok")
        assert resp.headers["Content-Type"].startswith("text/plain")
