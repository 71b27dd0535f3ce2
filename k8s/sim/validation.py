"""ks-apiserver's import check: `POST /kapis/cluster.kubesphere.io/v1alpha1/clusters/validation`.

Follows KubeSphere 3.4.1 `pkg/kapis/cluster/v1alpha1/handler.go` validateCluster, check by check,
with its status codes and strings: connection type direct; kubeconfig non-empty; the kubeconfig
loads (`k8sutil.LoadKubeConfigFromBytes`) and a client builds; validateKubeConfig (GET kube-system,
no Cluster with that `status.uid`, GET /version); validateKubeSphereAPIServer (`/kapis/version`
through the member's service proxy); validateMemberClusterConfiguration (member clusterRole
`member`, jwtSecret equal to the host's). Errors are `api.HandleBadRequest` → `http.Error`: 400,
text/plain, the message with `& < >` escaped and a newline. Every member request is dialled from
the host (`k8s/sim/network.py`), so exec/file credentials and partitions fail here too.

Kept upstream quirks: the membership error does not `return`, so its 400 stands (the later
WriteHeader(200) is superfluous); the invalid-response message's format arguments are out of order
upstream ("ks-apiserver , please make sure kubesphere-system.<body>.svc"). Not simulated:
ks-apiserver's own authentication/authorization of the caller, and Go's exact JSON decode errors
for a malformed body (the 400 carries Python's wording).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import TYPE_CHECKING, Any

from k8s.sim import clientcmd, kubesphere, network
from k8s.sim.resources import CLUSTERS
from k8s.sim.store import meta

if TYPE_CHECKING:
    from k8s.sim.world import SimCluster

VERSION_PROXY = "/api/v1/namespaces/kubesphere-system/services/:ks-apiserver:/proxy/kapis/version"
_SANITIZE = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


class _BadRequest(Exception):
    pass


def _bad(message: str) -> tuple[int, bytes]:
    return 400, (message.translate(_SANITIZE) + "\n").encode()


def validate(host: SimCluster, body: bytes) -> tuple[int, bytes]:
    try:
        _validate(host, body)
    except _BadRequest as e:
        return _bad(str(e))
    except network.DialError as e:
        return _bad(e.message)
    except clientcmd.ConfigError as e:
        return _bad(str(e))
    return 200, b""


def _entity(body: bytes) -> tuple[str, str, bytes]:
    """request.ReadEntity(&v1alpha1.Cluster): name, connection type, kubeconfig bytes."""
    try:
        obj = json.loads(body or b"null")
    except ValueError as e:
        raise _BadRequest(str(e)) from e
    if obj is None:
        obj = {}
    if not isinstance(obj, dict):
        raise _BadRequest("json: cannot unmarshal into Go value of type v1alpha1.Cluster")
    md = obj.get("metadata") or {}
    conn = ((obj.get("spec") or {}) if isinstance(obj.get("spec"), dict) else {}).get(
        "connection"
    ) or {}
    if not isinstance(md, dict) or not isinstance(conn, dict):
        raise _BadRequest("json: cannot unmarshal into Go struct field of type v1alpha1.Cluster")
    raw = conn.get("kubeconfig") or ""
    if not isinstance(raw, str):
        raise _BadRequest(
            "json: cannot unmarshal into Go struct field "
            "Connection.spec.connection.kubeconfig of type []uint8"
        )
    try:
        data = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as e:
        raise _BadRequest(f"illegal base64 data: {e}") from e
    return str(md.get("name") or ""), str(conn.get("type") or ""), data


def _validate(host: SimCluster, body: bytes) -> None:
    world = host.world
    name, ctype, data = _entity(body)
    if ctype != "direct":
        raise _BadRequest("cluster connection type MUST be direct")
    if not data:
        raise _BadRequest("cluster kubeconfig MUST NOT be empty")
    rc = network.client(data)
    # validateKubeConfig
    member = network.dial(world, host, rc, "/api/v1/namespaces/kube-system")
    with world.lock:
        uid = member.kube_system_uid
        for existing in host.store.iter(CLUSTERS):
            if (existing.get("status") or {}).get("uid") == uid:
                raise _BadRequest(
                    f"cluster {name} already exists ({meta(existing)['name']}), MUST not import "
                    "the same cluster twice"
                )
    network.dial(world, host, rc, "/version")
    # validateKubeSphereAPIServer
    try:
        network.dial(world, host, rc, VERSION_PROXY)
    except network.DialError as e:
        if e.code == 0:
            raise _BadRequest(f"unable validate kubesphere endpoint, {e.message}") from e
    code, payload = member.service_proxy(
        "kubesphere-system", ":ks-apiserver:", "/kapis/version", "GET"
    )
    if code != 200:
        text = json.dumps(payload, separators=(",", ":"))
        raise _BadRequest(
            "unable validate kubesphere endpoint, invalid response: ks-apiserver , please make "
            f"sure kubesphere-system.{text}.svc of member cluster is up and running"
        )
    # validateMemberClusterConfiguration
    problem = _membership(host, member)
    if problem is not None:
        raise _BadRequest(f"failed to validate member cluster configuration, err: {problem}")


def _membership(host: SimCluster, member: SimCluster) -> str | None:
    with host.world.lock:
        host_config = kubesphere.read_config(host)
        member_config = kubesphere.read_config(member)
    if host_config is None:
        return (
            "failed to get host cluster kubesphere-system/configmap/kubesphere-config, err: "
            'configmap "kubesphere-config" not found'
        )
    if member_config is None:
        return 'configmaps "kubesphere-config" not found'
    role = (member_config.get("multicluster") or {}).get("clusterRole")
    if role != "member":
        return "the clusterRole of the member cluster must be 'member'"
    if _jwt(host_config) != _jwt(member_config):
        return (
            "hostcluster Jwt is not equal to member cluster jwt, please edit the member cluster "
            "cluster config"
        )
    return None


def _jwt(config: dict[str, Any]) -> Any:
    return (config.get("authentication") or {}).get("jwtSecret")
