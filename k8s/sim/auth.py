"""Authentication as kube-apiserver does it: bearer tokens, anonymous requests, public paths.

Valid tokens are the cluster's admin token (`SimCluster.token`, in `World.kubeconfig()`) and legacy
ServiceAccount tokens: a `kubernetes.io/service-account-token` Secret filled by the token
controller (`controllers/tokens.py`), valid while the Secret and its ServiceAccount exist
(kubernetes `pkg/serviceaccount/legacy.go` validator: Secret present and not terminating, token
equal, ServiceAccount present with the annotated uid and not terminating).

A wrong token is 401 `Unauthorized` everywhere, public paths included (authentication runs before
authorization). No token at all is `system:anonymous` (kube-apiserver's `--anonymous-auth`
defaults to true), which the default `system:public-info-viewer` ClusterRole lets read only
`/healthz`, `/livez`, `/readyz` and `/version`; anything else is the RBAC 403 for that user.
Authorization for authenticated users (RBAC) is deliberately not simulated: every valid token may
do everything.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

from k8s.sim import errors
from k8s.sim.resources import SECRETS, SERVICEACCOUNTS
from k8s.sim.store import meta

if TYPE_CHECKING:
    from k8s.sim.world import SimCluster

SA_TOKEN_TYPE = "kubernetes.io/service-account-token"
SA_NAME = "kubernetes.io/service-account.name"
SA_UID = "kubernetes.io/service-account.uid"
# system:public-info-viewer's nonResourceURLs (kubernetes plugin/pkg/auth/authorizer/rbac/
# bootstrappolicy/policy.go)
PUBLIC_PATHS = frozenset({"/healthz", "/livez", "/readyz", "/version"})
_VERB = {"POST": "create", "PUT": "update", "PATCH": "patch"}


def unauthorized() -> errors.ApiError:
    return errors.ApiError(401, "Unauthorized", "Unauthorized")


def bearer(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer` header; '' for any other (unusable) credentials."""
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def valid_token(cluster: SimCluster, token: str | None) -> bool:
    """Whether `token` authenticates on `cluster`; call with the world lock held or not at all."""
    if not token:
        return False
    if token == cluster.token:
        return True
    encoded = base64.b64encode(token.encode()).decode()
    with cluster.world.lock:
        for secret in cluster.store.iter(SECRETS):
            if secret.get("type") != SA_TOKEN_TYPE:
                continue
            if (secret.get("data") or {}).get("token") != encoded:
                continue
            md = meta(secret)
            if md.get("deletionTimestamp"):
                return False
            annotations = md.get("annotations") or {}
            sa = cluster.store.peek(SERVICEACCOUNTS, md["namespace"], annotations.get(SA_NAME, ""))
            if sa is None or meta(sa).get("deletionTimestamp"):
                return False
            uid = annotations.get(SA_UID)
            return not uid or uid == meta(sa).get("uid")
    return False


def check(cluster: SimCluster, header: str | None, method: str, path: str, watch: bool) -> None:
    """Raise the 401/403 kube-apiserver answers for this request, or return if it may go on."""
    token = bearer(header)
    if token is not None:
        if not valid_token(cluster, token):
            raise unauthorized()
        return
    if method == "GET" and path in PUBLIC_PATHS:
        return
    raise _anonymous_forbidden(method, path, watch)


def _anonymous_forbidden(method: str, path: str, watch: bool) -> errors.ApiError:
    """responsewriters.ForbiddenStatusError for system:anonymous, resource or non-resource."""
    user = 'User "system:anonymous"'
    parts = path.strip("/").split("/")
    if parts[0] == "api" and len(parts) >= 3:
        group, rest = "", parts[2:]
    elif parts[0] == "apis" and len(parts) >= 4:
        group, rest = parts[1], parts[3:]
    else:
        verb = {"GET": "get"}.get(method, method.lower())
        return errors.ApiError(403, "Forbidden", f'forbidden: {user} cannot {verb} path "{path}"')
    namespace = ""
    if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] not in ("status", "finalize"):
        namespace, rest = rest[1], rest[2:]
    resource, name = rest[0], rest[1] if len(rest) > 1 else ""
    sub = "/" + rest[2] if len(rest) > 2 else ""
    if method == "GET":
        verb = "watch" if watch else ("get" if name else "list")
    elif method == "DELETE":
        verb = "delete" if name else "deletecollection"
    else:
        verb = _VERB.get(method, method.lower())
    scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    qualified = f"{resource}.{group}" if group else resource
    subject = f'{qualified} "{name}"' if name else qualified
    message = (
        f'{subject} is forbidden: {user} cannot {verb} resource "{resource}{sub}" '
        f'in API group "{group}" {scope}'
    )
    details: dict[str, str] = {"kind": resource}
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    return errors.ApiError(403, "Forbidden", message, details)
