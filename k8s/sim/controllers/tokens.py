"""kube-controller-manager's legacy ServiceAccount token controller, on every cluster.

Follows kubernetes v1.26 `pkg/controller/serviceaccount/tokens_controller.go`: a Secret of type
`kubernetes.io/service-account-token` naming an existing ServiceAccount gets `data.token`,
`data.ca.crt`, `data.namespace` and the `service-account.uid` annotation (generateTokenIfNeeded);
one naming a missing ServiceAccount (or another uid) is deleted (syncSecret); deleting a
ServiceAccount deletes its token Secrets (syncServiceAccount → deleteTokens). Since 1.24 it no
longer creates Secrets for new ServiceAccounts, so nothing is created here. `k8s/sim/auth.py`
accepts these tokens while Secret and ServiceAccount exist.
"""

from __future__ import annotations

import base64
import copy
import json
import secrets
from typing import TYPE_CHECKING, Any

from k8s.sim.auth import SA_NAME, SA_TOKEN_TYPE, SA_UID
from k8s.sim.controllers.base import delete_if_present, replace
from k8s.sim.resources import SECRETS, SERVICEACCOUNTS
from k8s.sim.store import meta

if TYPE_CHECKING:
    from k8s.sim.world import SimCluster, World

Obj = dict[str, Any]
FAKE_CA = b"-----BEGIN CERTIFICATE-----\nc2ltdWxhdGVkIGNsdXN0ZXIgQ0E=\n-----END CERTIFICATE-----\n"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _jwt(namespace: str, secret: str, sa: str, uid: str) -> str:
    """A legacy token's shape (`kubernetes/serviceaccount` claims); the signature is random."""
    claims = {
        "iss": "kubernetes/serviceaccount",
        "kubernetes.io/serviceaccount/namespace": namespace,
        "kubernetes.io/serviceaccount/secret.name": secret,
        "kubernetes.io/serviceaccount/service-account.name": sa,
        "kubernetes.io/serviceaccount/service-account.uid": uid,
        "sub": f"system:serviceaccount:{namespace}:{sa}",
    }

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    header = part(json.dumps({"alg": "RS256", "kid": "sim"}).encode())
    return f"{header}.{part(json.dumps(claims).encode())}.{part(secrets.token_bytes(64))}"


def fill(cluster: SimCluster, secret: Obj) -> Obj | None:
    """Sync one token Secret: fill it, or delete it when its ServiceAccount is gone."""
    md = meta(secret)
    if secret.get("type") != SA_TOKEN_TYPE or md.get("deletionTimestamp"):
        return secret
    namespace = md["namespace"]
    annotations = md.get("annotations") or {}
    sa = cluster.store.peek(SERVICEACCOUNTS, namespace, annotations.get(SA_NAME, ""))
    uid = annotations.get(SA_UID)
    if sa is None or (uid and uid != meta(sa)["uid"]):
        delete_if_present(cluster, SECRETS, namespace, md["name"])
        return None
    data = secret.get("data") or {}
    if data.get("token") and data.get("ca.crt") and data.get("namespace") and uid:
        return secret
    new = copy.deepcopy(secret)
    new["metadata"].setdefault("annotations", {})[SA_UID] = meta(sa)["uid"]
    filled = new.setdefault("data", {})
    filled.setdefault("ca.crt", _b64(FAKE_CA))
    filled.setdefault("namespace", _b64(namespace.encode()))
    if not filled.get("token"):
        token = _jwt(namespace, md["name"], meta(sa)["name"], meta(sa)["uid"])
        filled["token"] = _b64(token.encode())
    return replace(cluster, SECRETS, secret, new)


class TokenController:
    watches = frozenset({SECRETS.key, SERVICEACCOUNTS.key})

    def handle(
        self, world: World, cluster: SimCluster, rkey: str, namespace: str, name: str
    ) -> None:
        if rkey == SECRETS.key:
            secret = cluster.store.peek(SECRETS, namespace, name)
            if secret is not None:
                fill(cluster, secret)
            return
        sa = cluster.store.peek(SERVICEACCOUNTS, namespace, name)
        for secret in list(cluster.store.iter(SECRETS)):
            md = meta(secret)
            if md.get("namespace") != namespace or secret.get("type") != SA_TOKEN_TYPE:
                continue
            if (md.get("annotations") or {}).get(SA_NAME) != name:
                continue
            if sa is None or meta(sa).get("deletionTimestamp"):
                delete_if_present(cluster, SECRETS, namespace, md["name"])
            else:
                fill(cluster, secret)
