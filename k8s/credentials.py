"""The credential a host gets for a member: its own ServiceAccount on the member, never the bot's.

KubeSphere stores the member kubeconfig in the host's Cluster object and dials the member with it
from inside ks-controller-manager (`pkg/controller/cluster/cluster_controller.go`). Giving it the
bot's own context would hand every host the bot's identity, and an `exec` or file-based
credential does not even work there. So each host gets a dedicated ServiceAccount on the member
(`kubesphere-system/ksmc-host-<host>`, bound to cluster-admin as KubeSphere's docs require of a
member kubeconfig) and a self-contained kubeconfig holding that account's token; unbinding a
member from a host deletes the account, which revokes the token.
"""

from __future__ import annotations

import base64
import contextlib
import time
from collections.abc import Callable

import yaml

from k8s.access import ClusterApi
from k8s.errors import AlreadyExists, NotFound

NAMESPACE = "kubesphere-system"
LABEL_FOR_HOST = "ksmc.io/for-host"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
CLUSTER_ROLE = "cluster-admin"


class CredentialError(Exception):
    """The member did not issue a token for the host's account in time."""


def account_name(host: str) -> str:
    return f"ksmc-host-{host}"


def _account_labels(host: str) -> dict[str, str]:
    return {LABEL_FOR_HOST: host, LABEL_MANAGED_BY: "ksmc-bot"}


def ensure(member: ClusterApi, host: str) -> None:
    """Create (or complete) the host's account, its cluster-admin binding and token Secret."""
    name = account_name(host)
    with contextlib.suppress(AlreadyExists):
        member.create_service_account(
            NAMESPACE,
            {"metadata": {"name": name, "namespace": NAMESPACE, "labels": _account_labels(host)}},
        )
    with contextlib.suppress(AlreadyExists):
        member.create_cluster_role_binding(
            {
                "metadata": {"name": name, "labels": _account_labels(host)},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": CLUSTER_ROLE,
                },
                "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": NAMESPACE}],
            }
        )
    with contextlib.suppress(AlreadyExists):
        member.create_secret(
            NAMESPACE,
            {
                "metadata": {
                    "name": f"{name}-token",
                    "namespace": NAMESPACE,
                    "labels": _account_labels(host),
                    "annotations": {"kubernetes.io/service-account.name": name},
                },
                "type": "kubernetes.io/service-account-token",
            },
        )


def exists(member: ClusterApi, host: str) -> bool:
    try:
        member.get_secret(NAMESPACE, f"{account_name(host)}-token")
    except NotFound:
        return False
    return True


def kubeconfig(
    member: ClusterApi,
    host: str,
    cluster_name: str,
    *,
    timeout: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
) -> bytes:
    """A self-contained kubeconfig for `host` to reach the member: server, CA and token inline,
    no `exec`, `auth-provider` or file reference. Waits for the token controller."""
    deadline = time.monotonic() + timeout
    while True:
        data = member.get_secret(NAMESPACE, f"{account_name(host)}-token").get("data") or {}
        if data.get("token"):
            break
        if time.monotonic() >= deadline:
            raise CredentialError(
                f"{member.name} issued no token for {NAMESPACE}/{account_name(host)} within "
                f"{timeout:.0f}s (is its token controller running?)"
            )
        sleep(0.1)
    token = base64.b64decode(data["token"]).decode()
    cluster: dict[str, object] = {"server": member.server}
    if data.get("ca.crt"):
        cluster["certificate-authority-data"] = data["ca.crt"]
    user = f"{account_name(host)}"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": cluster_name,
        "clusters": [{"name": cluster_name, "cluster": cluster}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": user}}],
    }
    return yaml.safe_dump(config, sort_keys=False).encode()


def anonymous_kubeconfig(member: ClusterApi, cluster_name: str) -> bytes:
    """The member's address with no credential: enough for a host to prove it can reach it."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": cluster_name,
        "clusters": [{"name": cluster_name, "cluster": {"server": member.server}}],
        "users": [{"name": "anonymous", "user": {}}],
        "contexts": [
            {"name": cluster_name, "context": {"cluster": cluster_name, "user": "anonymous"}}
        ],
    }
    return yaml.safe_dump(config, sort_keys=False).encode()


def revoke(member: ClusterApi, host: str) -> bool:
    """Delete the host's account, binding and token; True if anything was there."""
    name = account_name(host)
    deletes: tuple[Callable[[], object], ...] = (
        lambda: member.delete_cluster_role_binding(name),
        lambda: member.delete_secret(NAMESPACE, f"{name}-token"),
        lambda: member.delete_service_account(NAMESPACE, name),
    )
    found = False
    for delete in deletes:
        try:
            delete()
            found = True
        except NotFound:
            pass
    return found
