"""Proves the simulator joins members the way a KubeSphere 3.4.1 host does, from the host's own
network position, and authenticates every request as kube-apiserver does.

Why: the bot reaching a member says nothing about whether the host can (other network, a
kubeconfig with exec or file credentials that only work on a laptop, a rotated token). Checked
over the wire with the official client: 401 for a wrong token and the anonymous 403 (public paths
open); a ServiceAccount token that stops working when its ServiceAccount goes; joins whose
kubeconfig uses exec, auth-provider or file references fail as upstream reports them (or silently);
a partition fails the join while the bot still reads the member; the validation endpoint's checks
and strings; a proxy member joined through its cluster-agent and moved by re-pointing it; and the
partition control API's answers to bad input.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config
from waiting import wait_for

from k8s.sim.world import World

CLUSTERS = ("cluster.kubesphere.io", "v1alpha1", "clusters")
VALIDATION = (
    "/api/v1/namespaces/kubesphere-system/services/:ks-apiserver:/proxy"
    "/kapis/cluster.kubesphere.io/v1alpha1/clusters/validation"
)


def http(
    world: World, cluster: str, method: str, path: str, body: Any = None, token: str | None = ""
) -> tuple[int, bytes]:
    """A raw request; `token=""` uses the cluster's admin token, None sends no credentials."""
    c = world.clusters[cluster]
    data = body if isinstance(body, bytes) else (json.dumps(body).encode() if body else None)
    req = urllib.request.Request(f"{c.url}{path}", data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token is not None:
        req.add_header("Authorization", f"Bearer {token or c.token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def custom(kubeconfig: Path, cluster: str) -> client.CustomObjectsApi:
    api = config.new_client_from_config(config_file=str(kubeconfig), context=cluster)  # type: ignore[no-untyped-call]
    return client.CustomObjectsApi(api)


def kubeconfig_for(world: World, member: str, user: dict[str, Any]) -> str:
    """A base64 kubeconfig for `member` with the given user entry."""
    kc = world.kubeconfig([member])
    kc["users"][0]["user"] = user
    return base64.b64encode(yaml.safe_dump(kc).encode()).decode()


def cluster_body(name: str, kubeconfig: str, ctype: str = "direct") -> dict[str, Any]:
    return {
        "apiVersion": "cluster.kubesphere.io/v1alpha1",
        "kind": "Cluster",
        "metadata": {"name": name},
        "spec": {"joinFederation": True, "connection": {"type": ctype, "kubeconfig": kubeconfig}},
    }


def condition(obj: dict[str, Any], ctype: str) -> dict[str, Any] | None:
    conds = (obj.get("status") or {}).get("conditions") or []
    return next((c for c in conds if c.get("type") == ctype), None)


def read(api: client.CustomObjectsApi, name: str) -> dict[str, Any]:
    obj: dict[str, Any] = api.get_cluster_custom_object(*CLUSTERS, name)  # type: ignore[assignment]
    return obj


# ---- authentication ------------------------------------------------------------------------


def test_wrong_token_is_401_and_no_token_is_anonymous(sim_world: World) -> None:
    code, body = http(sim_world, "member-a", "GET", "/api/v1/namespaces", token="nope")
    assert code == 401
    assert json.loads(body) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "Unauthorized",
        "reason": "Unauthorized",
        "code": 401,
    }
    assert http(sim_world, "member-a", "GET", "/version", token="nope")[0] == 401
    code, body = http(sim_world, "member-a", "GET", "/api/v1/namespaces", token=None)
    assert code == 403
    assert json.loads(body)["message"] == (
        'namespaces is forbidden: User "system:anonymous" cannot list resource "namespaces" '
        'in API group "" at the cluster scope'
    )
    for path in ("/version", "/healthz", "/readyz", "/livez"):
        assert http(sim_world, "member-a", "GET", path, token=None)[0] == 200
    assert http(sim_world, "member-a", "GET", "/api", token=None)[0] == 403
    assert http(sim_world, "member-a", "GET", "/_sim/info", token=None)[0] == 200


def test_service_account_token_works_until_its_account_is_deleted(sim_world: World) -> None:
    ns = "default"
    sa = {"metadata": {"name": "robot"}}
    assert (
        http(sim_world, "member-a", "POST", f"/api/v1/namespaces/{ns}/serviceaccounts", sa)[0]
        == 201
    )
    secret = {
        "metadata": {
            "name": "robot-token",
            "annotations": {"kubernetes.io/service-account.name": "robot"},
        },
        "type": "kubernetes.io/service-account-token",
    }
    http(sim_world, "member-a", "POST", f"/api/v1/namespaces/{ns}/secrets", secret)

    def filled() -> str | None:
        _, body = http(sim_world, "member-a", "GET", f"/api/v1/namespaces/{ns}/secrets/robot-token")
        data = json.loads(body).get("data") or {}
        return data.get("token") if data.get("ca.crt") and data.get("namespace") else None

    token = base64.b64decode(wait_for(filled, what="the token controller")).decode()
    assert http(sim_world, "member-a", "GET", "/api/v1/namespaces", token=token)[0] == 200
    assert http(sim_world, "member-b", "GET", "/api/v1/namespaces", token=token)[0] == 401
    http(sim_world, "member-a", "DELETE", f"/api/v1/namespaces/{ns}/serviceaccounts/robot")
    assert http(sim_world, "member-a", "GET", "/api/v1/namespaces", token=token)[0] == 401
    wait_for(
        lambda: (
            http(sim_world, "member-a", "GET", f"/api/v1/namespaces/{ns}/secrets/robot-token")[0]
            == 404
        ),
        what="the token Secret to go with its ServiceAccount",
    )


# ---- joins from the host's position ------------------------------------------------------


def _federated_reason(api: client.CustomObjectsApi, name: str) -> str:
    def failed() -> str | None:
        cond = condition(read(api, name), "Federated")
        return str(cond["reason"]) if cond and cond["status"] == "False" else None

    return str(wait_for(failed, what="the join to fail"))


def test_exec_credentials_fail_the_join_inside_the_pod(
    sim_world: World, sim_kubeconfig: Path
) -> None:
    host = custom(sim_kubeconfig, "host-b")
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "aws"}}
    host.create_cluster_custom_object(
        *CLUSTERS, cluster_body("member-a", kubeconfig_for(sim_world, "member-a", user))
    )
    reason = _federated_reason(host, "member-a")
    url = sim_world.clusters["member-a"].url
    assert reason.startswith(
        f'Get "{url}/api/v1/namespaces/kube-federation-system/serviceaccounts/member-a-kubesphere"'
        ": getting credentials: exec: executable aws not found\n\nIt looks like"
    )
    ready = condition(read(host, "member-a"), "Ready")
    assert ready is not None and ready["reason"] == "Cluster join federation control plane failed"


@pytest.mark.parametrize(
    "user",
    [
        {"auth-provider": {"name": "gcp"}},
        {"tokenFile": "/home/me/.kube/token"},
        {"client-certificate": "/home/me/cert.pem", "client-key": "/home/me/key.pem"},
    ],
    ids=["auth-provider", "token-file", "client-cert-files"],
)
def test_unloadable_kubeconfig_leaves_no_condition(
    sim_world: World, sim_kubeconfig: Path, user: dict[str, Any]
) -> None:
    host = custom(sim_kubeconfig, "host-b")
    body = cluster_body("member-a", kubeconfig_for(sim_world, "member-a", user))
    host.create_cluster_custom_object(*CLUSTERS, body)
    assert sim_world.settle(5)
    obj = read(host, "member-a")
    assert obj["metadata"]["finalizers"] == ["finalizer.cluster.kubesphere.io"]
    assert not (obj.get("status") or {}).get("conditions")  # upstream only logs the error


def test_a_rejected_token_fails_the_join_as_unauthorized(
    sim_world: World, sim_kubeconfig: Path
) -> None:
    host = custom(sim_kubeconfig, "host-b")
    kubeconfig = kubeconfig_for(sim_world, "member-a", {"token": "revoked"})
    host.create_cluster_custom_object(*CLUSTERS, cluster_body("member-a", kubeconfig))
    assert _federated_reason(host, "member-a") == "Unauthorized"


def test_partition_fails_the_join_while_the_bot_still_reads_the_member(
    sim_world: World, sim_kubeconfig: Path
) -> None:
    code, listed = http(
        sim_world, "member-a", "POST", "/_sim/clusters/member-a/partitions", {"from": "host-b"}
    )
    assert code == 201 and json.loads(listed) == {"member": "member-a", "from": ["host-b"]}
    host = custom(sim_kubeconfig, "host-b")
    kubeconfig = kubeconfig_for(
        sim_world, "member-a", {"token": sim_world.clusters["member-a"].token}
    )
    host.create_cluster_custom_object(*CLUSTERS, cluster_body("member-a", kubeconfig))
    address = sim_world.clusters["member-a"].url.split("://")[1]
    assert _federated_reason(host, "member-a").endswith(
        f"dial tcp {address}: connect: connection refused"
    )
    api = config.new_client_from_config(str(sim_kubeconfig), context="member-a")  # type: ignore[no-untyped-call]
    bot = client.CoreV1Api(api)
    assert "ns1" in {n.metadata.name for n in bot.list_namespace().items if n.metadata}
    http(sim_world, "member-a", "DELETE", "/_sim/clusters/member-a/partitions", {"from": "host-b"})
    wait_for(
        lambda: (condition(read(host, "member-a"), "Ready") or {}).get("status") == "True",
        what="the join once healed",
    )


# ---- ks-apiserver validation ------------------------------------------------------------


def _validate(world: World, host: str, body: dict[str, Any]) -> tuple[int, str]:
    code, text = http(world, host, "POST", VALIDATION, body)
    return code, text.decode()


def test_validation_endpoint_answers_each_check(sim_world: World) -> None:
    w = sim_world
    kc = {n: kubeconfig_for(w, n, {"token": w.clusters[n].token}) for n in w.clusters}
    assert _validate(w, "host-b", cluster_body("member-a", kc["member-a"], "proxy")) == (
        400,
        "cluster connection type MUST be direct\n",
    )
    assert _validate(w, "host-b", cluster_body("member-a", "")) == (
        400,
        "cluster kubeconfig MUST NOT be empty\n",
    )
    assert _validate(w, "host-a", cluster_body("again", kc["member-a"])) == (
        400,
        "cluster again already exists (member-a), MUST not import the same cluster twice\n",
    )
    assert _validate(w, "host-a", cluster_body("member-b", kc["member-b"])) == (
        400,
        "failed to validate member cluster configuration, err: hostcluster Jwt is not equal to "
        "member cluster jwt, please edit the member cluster cluster config\n",
    )
    assert _validate(w, "host-a", cluster_body("host-b", kc["host-b"])) == (
        400,
        "failed to validate member cluster configuration, err: the clusterRole of the member "
        "cluster must be 'member'\n",
    )
    exec_kc = kubeconfig_for(w, "member-a", {"exec": {"command": "/usr/bin/aws"}})
    assert _validate(w, "host-b", cluster_body("member-a", exec_kc)) == (
        400,
        "invalid configuration: [apiVersion must be specified for member-a-admin to use exec "
        "authentication plugin, interactiveMode must be specified for member-a-admin to use exec "
        "authentication plugin]\n",
    )
    beta = "client.authentication.k8s.io/v1beta1"
    exec_kc = kubeconfig_for(w, "member-a", {"exec": {"apiVersion": beta, "command": "/bin/aws"}})
    url = w.clusters["member-a"].url
    assert _validate(w, "host-b", cluster_body("member-a", exec_kc)) == (
        400,
        f'Get "{url}/api/v1/namespaces/kube-system": getting credentials: exec: fork/exec '
        "/bin/aws: no such file or directory\n",
    )
    assert _validate(w, "host-b", cluster_body("member-a", kc["member-a"])) == (200, "")
    http(w, "host-b", "POST", "/_sim/clusters/member-a/partitions", {"from": "host-b"})
    code, text = _validate(w, "host-b", cluster_body("member-a", kc["member-a"]))
    assert code == 400 and text.endswith("connect: connection refused\n")


# ---- proxy members -----------------------------------------------------------------------


def _agent(host: str, name: str, token: str) -> dict[str, Any]:
    labels = {"app": "agent", "app.kubernetes.io/part-of": "tower"}
    command = [
        "/agent",
        f"--name={name}",
        f"--token={token}",
        f"--proxy-server=http://{host}.tower.sim:8080",
        "--keepalive=10s",
        "--kubesphere-service=ks-apiserver.kubesphere-system.svc:80",
        "--kubernetes-service=kubernetes.default.svc:443",
    ]
    return {
        "metadata": {"name": "cluster-agent", "namespace": "kubesphere-system"},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "agent", "image": "x", "command": command}]},
            },
        },
    }


def _proxy_cluster(api: client.CustomObjectsApi, name: str) -> str:
    api.create_cluster_custom_object(*CLUSTERS, cluster_body(name, "", "proxy"))

    def token() -> str | None:
        obj = read(api, name)
        init = condition(obj, "Initialized")
        return obj["spec"]["connection"].get("token") if init else None

    return str(wait_for(token, what="tower to initialize the Cluster"))


def _joined(api: client.CustomObjectsApi, name: str) -> dict[str, Any]:
    def ready() -> dict[str, Any] | None:
        obj = read(api, name)
        ok = (condition(obj, "Ready") or {}).get("status") == "True"
        return obj if ok else None

    return dict(wait_for(ready, what=f"proxy Cluster {name} Ready"))


def test_proxy_member_joins_through_its_agent_and_moves_when_repointed(
    sim_world: World, sim_kubeconfig: Path
) -> None:
    """member-b (direct on host-b) joins host-a as a proxy member, then moves back to host-b as a
    proxy member under the same name, which host-b's workspace `qa` placement expects."""
    host_a, host_b = custom(sim_kubeconfig, "host-a"), custom(sim_kubeconfig, "host-b")
    api = config.new_client_from_config(str(sim_kubeconfig), context="member-b")  # type: ignore[no-untyped-call]
    apps = client.AppsV1Api(api)
    token_a = _proxy_cluster(host_a, "member-b")
    apps.create_namespaced_deployment("kubesphere-system", _agent("host-a", "member-b", "wrong"))  # type: ignore[arg-type]
    assert sim_world.settle(5)
    assert condition(read(host_a, "member-b"), "AgentAvailable") is None  # "Unauthorized agent"
    apps.patch_namespaced_deployment(
        "cluster-agent", "kubesphere-system", _agent("host-a", "member-b", token_a)
    )
    obj = _joined(host_a, "member-b")
    agent = condition(obj, "AgentAvailable")
    assert agent is not None and agent["message"] == "Agent has connected to proxy successfully."
    assert obj["status"]["uid"] == sim_world.clusters["member-b"].kube_system_uid
    assert obj["spec"]["connection"]["kubernetesAPIEndpoint"].startswith("https://10.233.")
    assert obj["spec"]["connection"]["kubeconfig"]
    # moving it: host-b's direct Cluster goes, a proxy one comes, the agent is re-pointed
    host_b.delete_cluster_custom_object(*CLUSTERS, "member-b")
    wait_for(
        lambda: (
            "member-b"
            not in {
                i["metadata"]["name"]
                for i in host_b.list_cluster_custom_object(*CLUSTERS)["items"]  # type: ignore[index]
            }
        ),
        what="the direct Cluster to go",
    )
    token_b = _proxy_cluster(host_b, "member-b")
    apps.patch_namespaced_deployment(
        "cluster-agent", "kubesphere-system", _agent("host-b", "member-b", token_b)
    )
    assert _joined(host_b, "member-b")["status"]["uid"] == obj["status"]["uid"]


# ---- control API -------------------------------------------------------------------------


def test_partition_control_api_rejects_bad_input(sim_world: World) -> None:
    path = "/_sim/clusters/member-a/partitions"
    assert http(sim_world, "host-a", "POST", path, b"{not json")[0] == 400
    assert http(sim_world, "host-a", "POST", path, [1, 2])[0] == 400
    assert http(sim_world, "host-a", "POST", path, {"from": 5})[0] == 400
    assert http(sim_world, "host-a", "POST", path, {"from": "nowhere"})[0] == 404
    assert http(sim_world, "host-a", "POST", path, {"from": "member-a"})[0] == 422
    assert http(sim_world, "host-a", "PUT", path, {"from": "host-a"})[0] == 405
    assert http(sim_world, "host-a", "POST", "/_sim/faults", [1])[0] == 400
    assert http(sim_world, "host-a", "POST", path, {"from": "host-a"})[0] == 201
    code, body = http(sim_world, "host-a", "GET", path)
    assert code == 200 and json.loads(body)["from"] == ["host-a"]
    code, body = http(sim_world, "host-a", "DELETE", path)
    assert code == 200 and json.loads(body)["from"] == []
