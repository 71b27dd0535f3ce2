"""The few calls the bot makes against one Kubernetes cluster, with errors translated.

`ClusterApi` wraps one client: every call has a timeout, goes through `k8s.retry` (urllib3's
retries are off) and raises only `k8s.errors`. Objects come back as the server's JSON (dicts),
the same shape for built-in and KubeSphere types; `k8s.gather` turns them into typed facts.
Where the clients come from (a kubeconfig, the pod's own account) is `k8s.registry`'s concern.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import urllib3.exceptions
from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException

from k8s.errors import ClusterError, Transient, translate
from k8s.kinds import (
    CLUSTER_CONFIGURATIONS as CLUSTER_CONFIGURATIONS,
)
from k8s.kinds import (
    CLUSTERS as CLUSTERS,
)
from k8s.kinds import (
    FEDERATED_TYPES as FEDERATED_TYPES,
)
from k8s.kinds import (
    FEDERATED_WORKSPACES as FEDERATED_WORKSPACES,
)
from k8s.kinds import (
    HELM_RELEASES as HELM_RELEASES,
)
from k8s.kinds import (
    INSTALL_PLANS as INSTALL_PLANS,
)
from k8s.kinds import (
    KUBEFED_CLUSTERS as KUBEFED_CLUSTERS,
)
from k8s.kinds import (
    USERS as USERS,
)
from k8s.kinds import (
    WORKSPACE_ROLE_BINDINGS as WORKSPACE_ROLE_BINDINGS,
)
from k8s.kinds import (
    WORKSPACE_TEMPLATES as WORKSPACE_TEMPLATES,
)
from k8s.kinds import (
    WORKSPACES as WORKSPACES,
)
from k8s.kinds import (
    CustomResource as CustomResource,
)
from k8s.retry import Mode, Retrier

Obj = dict[str, Any]
Timeout = tuple[float, float]
MERGE_PATCH = "application/merge-patch+json"
DEFAULT_TIMEOUT: Timeout = (3.0, 20.0)
DEFAULT_PAGE_SIZE = 500


@dataclass(frozen=True)
class ClientSettings:
    timeout: Timeout = DEFAULT_TIMEOUT  # (connect, read) seconds for one request
    page_size: int = DEFAULT_PAGE_SIZE
    retrier: Retrier = field(default_factory=Retrier)


T = TypeVar("T")

_NETWORK_ERRORS = (ApiException, urllib3.exceptions.HTTPError, OSError)


class ClusterApi:
    """The bot's typed calls against one cluster. Thread-safe: urllib3 pools connections."""

    def __init__(
        self,
        name: str,
        api_client: k8s_client.ApiClient,
        settings: ClientSettings | None = None,
        deadline: float | None = None,
    ) -> None:
        self.name = name
        self.settings = settings or ClientSettings()
        self.deadline = deadline  # absolute time on settings.retrier.clock, or None
        self._client = api_client
        self._core = k8s_client.CoreV1Api(api_client)
        self._custom = k8s_client.CustomObjectsApi(api_client)
        self._rbac = k8s_client.RbacAuthorizationV1Api(api_client)

    def __repr__(self) -> str:
        return f"ClusterApi({self.name!r})"

    def with_deadline(self, deadline: float) -> ClusterApi:
        """The same cluster; every call (retries and timeouts included) ends by `deadline`."""
        if self.deadline is not None:
            deadline = min(deadline, self.deadline)
        return ClusterApi(self.name, self._client, self.settings, deadline)

    # ---- namespaces ------------------------------------------------------------------------

    def get_namespace(self, name: str) -> Obj:
        return self._json(Mode.READ, lambda t: self._core.read_namespace(name, **_raw(t)))

    def list_namespaces(self, label_selector: str | None = None) -> list[Obj]:
        return self._list(
            lambda token, limit, t: self._core.list_namespace(
                label_selector=label_selector, limit=limit, _continue=token, **_raw(t)
            )
        )

    def patch_namespace(self, name: str, patch: Obj, *, idempotent: bool = True) -> Obj:
        """JSON merge patch (null removes a key, a list replaces the whole list)."""
        return self._json(
            _write_mode(idempotent),
            lambda t: self._core.patch_namespace(name, patch, _content_type=MERGE_PATCH, **_raw(t)),
        )

    def delete_namespace(
        self,
        name: str,
        *,
        uid: str | None = None,
        propagation: str | None = None,
        idempotent: bool = True,
    ) -> Obj:
        """Pass `uid` so a repeated delete cannot hit a namespace re-created under that name."""
        body = _delete_options(uid, propagation)
        return self._json(
            _write_mode(idempotent),
            lambda t: self._core.delete_namespace(name, body=body, **_raw(t)),
        )

    # ---- other built-in objects ------------------------------------------------------------

    def get_configmap(self, namespace: str, name: str) -> Obj:
        return self._json(
            Mode.READ, lambda t: self._core.read_namespaced_config_map(name, namespace, **_raw(t))
        )

    def list_configmaps(self, namespace: str, label_selector: str | None = None) -> list[Obj]:
        return self._list(
            lambda token, limit, t: self._core.list_namespaced_config_map(
                namespace, label_selector=label_selector, limit=limit, _continue=token, **_raw(t)
            )
        )

    def get_secret(self, namespace: str, name: str) -> Obj:
        return self._json(
            Mode.READ, lambda t: self._core.read_namespaced_secret(name, namespace, **_raw(t))
        )

    def list_service_accounts(self, namespace: str, label_selector: str | None = None) -> list[Obj]:
        return self._list(
            lambda token, limit, t: self._core.list_namespaced_service_account(
                namespace,
                label_selector=label_selector,
                limit=limit,
                _continue=token,
                **_raw(t),
            )
        )

    def create_service_account(self, namespace: str, body: Obj) -> Obj:
        return self._json(
            Mode.ONCE,
            lambda t: self._core.create_namespaced_service_account(
                namespace, _model(k8s_client.V1ServiceAccount, body), **_raw(t)
            ),
        )

    def delete_service_account(self, namespace: str, name: str) -> Obj:
        return self._json(
            Mode.IDEMPOTENT,
            lambda t: self._core.delete_namespaced_service_account(name, namespace, **_raw(t)),
        )

    def create_secret(self, namespace: str, body: Obj) -> Obj:
        return self._json(
            Mode.ONCE,
            lambda t: self._core.create_namespaced_secret(
                namespace, _model(k8s_client.V1Secret, body), **_raw(t)
            ),
        )

    def delete_secret(self, namespace: str, name: str) -> Obj:
        return self._json(
            Mode.IDEMPOTENT,
            lambda t: self._core.delete_namespaced_secret(name, namespace, **_raw(t)),
        )

    def create_cluster_role_binding(self, body: Obj) -> Obj:
        return self._json(
            Mode.ONCE,
            lambda t: self._rbac.create_cluster_role_binding(
                _model(k8s_client.V1ClusterRoleBinding, body), **_raw(t)
            ),
        )

    def delete_cluster_role_binding(self, name: str) -> Obj:
        return self._json(
            Mode.IDEMPOTENT, lambda t: self._rbac.delete_cluster_role_binding(name, **_raw(t))
        )

    @property
    def server(self) -> str:
        """The API server URL this client talks to (what a kubeconfig for it names)."""
        return str(self._client.configuration.host)

    def count_nodes(self) -> int:
        """How many nodes, without downloading them all when the server reports the rest."""
        first = self._json(Mode.READ, lambda t: self._core.list_node(limit=1, **_raw(t)))
        meta = first.get("metadata") or {}
        counted = len(first.get("items") or [])
        remaining = meta.get("remainingItemCount")
        if not meta.get("continue"):
            return counted
        if isinstance(remaining, int):
            return counted + remaining
        return len(
            self._list(
                lambda token, limit, t: self._core.list_node(
                    limit=limit, _continue=token, **_raw(t)
                )
            )
        )

    # ---- custom objects --------------------------------------------------------------------

    def get_custom(self, res: CustomResource, name: str, namespace: str | None = None) -> Obj:
        call, head = self._custom_method("get", res, namespace)
        return self._json(Mode.READ, lambda t: call(*head, name, **_raw(t)))

    def list_custom(
        self, res: CustomResource, namespace: str | None = None, label_selector: str | None = None
    ) -> list[Obj]:
        """All objects (of `namespace`, or of every namespace for a namespaced type)."""
        call, head = self._custom_method("list", res, namespace)
        return self._list(
            lambda token, limit, t: call(
                *head, label_selector=label_selector, limit=limit, _continue=token, **_raw(t)
            )
        )

    def create_custom(
        self,
        res: CustomResource,
        body: Obj,
        namespace: str | None = None,
        *,
        idempotent: bool = False,
    ) -> Obj:
        """With `idempotent=True` a 5xx is retried; an AlreadyExists after that has
        `after_retry` set, meaning the first attempt probably succeeded."""
        call, head = self._custom_method("create", res, namespace)
        return self._json(_write_mode(idempotent), lambda t: call(*head, body, **_raw(t)))

    def patch_custom(
        self,
        res: CustomResource,
        name: str,
        patch: Obj,
        namespace: str | None = None,
        *,
        idempotent: bool = True,
    ) -> Obj:
        """JSON merge patch; idempotent by default (it sets absolute values)."""
        call, head = self._custom_method("patch", res, namespace)
        return self._json(
            _write_mode(idempotent),
            lambda t: call(*head, name, patch, _content_type=MERGE_PATCH, **_raw(t)),
        )

    def delete_custom(
        self,
        res: CustomResource,
        name: str,
        namespace: str | None = None,
        *,
        uid: str | None = None,
        propagation: str | None = None,
        idempotent: bool = True,
    ) -> Obj:
        """Pass `uid` so a repeated delete cannot hit an object re-created under that name."""
        call, head = self._custom_method("delete", res, namespace)
        body = _delete_options(uid, propagation)
        return self._json(
            _write_mode(idempotent), lambda t: call(*head, name, body=body, **_raw(t))
        )

    def _custom_method(
        self, verb: str, res: CustomResource, namespace: str | None
    ) -> tuple[Callable[..., Any], tuple[str, ...]]:
        """CustomObjectsApi's `<verb>_namespaced_custom_object` or `<verb>_cluster_...` and
        its leading arguments; a namespaced list without a namespace spans all namespaces."""
        if res.namespaced and not (verb == "list" and namespace is None):
            if not namespace:
                raise ValueError(f"{res.plural}.{res.group} is namespaced: pass a namespace")
            call = getattr(self._custom, f"{verb}_namespaced_custom_object")
            return call, (res.group, res.version, namespace, res.plural)
        call = getattr(self._custom, f"{verb}_cluster_custom_object")
        return call, (res.group, res.version, res.plural)

    # ---- discovery and KubeSphere's own API ------------------------------------------------

    def version(self) -> Obj:
        """The kube-apiserver's `/version` (gitVersion, major, minor, ...)."""
        api = k8s_client.VersionApi(self._client)
        return self._json(Mode.READ, lambda t: api.get_code(**_raw(t)))

    def api_groups(self) -> dict[str, tuple[str, ...]]:
        """Served API groups (core excluded) → their versions, preferred first."""
        api = k8s_client.ApisApi(self._client)
        listed = self._json(Mode.READ, lambda t: api.get_api_versions(**_raw(t)))
        out: dict[str, tuple[str, ...]] = {}
        for group in listed.get("groups") or []:
            preferred = (group.get("preferredVersion") or {}).get("version")
            versions = [str(v.get("version")) for v in group.get("versions") or []]
            if preferred in versions:
                versions.remove(preferred)
                versions.insert(0, preferred)
            out[str(group.get("name"))] = tuple(versions)
        return out

    def proxy_get(self, namespace: str, service: str, path: str) -> bytes:
        """GET through the kube-apiserver service proxy, e.g. ("kubesphere-system",
        "ks-apiserver:80", "kapis/version"). Returns the service's raw answer."""
        return self._request(
            Mode.READ,
            lambda t: self._core.connect_get_namespaced_service_proxy_with_path(
                service, namespace, path.lstrip("/"), **_raw(t)
            ),
        )

    def proxy_post(self, namespace: str, service: str, path: str, body: Obj) -> bytes:
        """POST JSON through the service proxy. The generated proxy call sends no body, so this
        builds the request with the client's public `param_serialize` (same auth, same TLS)."""
        resource = f"/api/v1/namespaces/{namespace}/services/{service}/proxy/{path.lstrip('/')}"

        def send(timeout: Timeout) -> Any:
            request = self._client.param_serialize(
                "POST",
                resource,
                header_params={"Content-Type": "application/json", "Accept": "application/json"},
                body=body,
                auth_settings=["BearerToken"],
            )
            response = self._client.call_api(*request, _request_timeout=timeout)
            if not 200 <= response.status <= 299:
                response.read()  # type: ignore[no-untyped-call]
                raise ApiException.from_response(http_resp=response, body=None, data=None)
            return response.response

        return self._request(Mode.READ, send)  # validation changes nothing: a retry is harmless

    # ---- plumbing --------------------------------------------------------------------------

    def _json(self, mode: Mode, send: Callable[[Timeout], Any]) -> Obj:
        data = self._request(mode, send)
        try:
            value = json.loads(data) if data else {}
        except ValueError as e:
            raise Transient(self.name, f"{self.name} answered with something not JSON") from e
        if not isinstance(value, dict):
            raise ClusterError(self.name, f"{self.name} answered with a JSON {type(value)}")
        return value

    def _request(self, mode: Mode, send: Callable[[Timeout], Any]) -> bytes:
        def once() -> bytes:
            timeout = self._timeout()
            try:
                response = send(timeout)
                try:
                    return bytes(response.data)
                finally:
                    response.release_conn()
            except _NETWORK_ERRORS as e:
                secrets = _credentials(self._client.configuration)  # tokens may be refreshed
                raise translate(self.name, e, secrets=secrets) from e

        return self.settings.retrier.run(once, mode, self.deadline)

    def _list(self, send_page: Callable[[str | None, int, Timeout], Any]) -> list[Obj]:
        """Every item, page by page; restarts once if the continue token expires (410)."""
        items: list[Obj] = []
        token: str | None = None
        restarted = False
        limit = self.settings.page_size
        while True:
            try:
                page = self._json(Mode.READ, functools.partial(send_page, token, limit))
            except ClusterError as err:
                if err.status == 410 and token is not None and not restarted:
                    items, token, restarted = [], None, True
                    continue
                raise
            items.extend(page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue") or None
            if token is None:
                return items

    def _timeout(self) -> Timeout:
        connect, read = self.settings.timeout
        if self.deadline is None:
            return connect, read
        left = self.deadline - self.settings.retrier.clock()
        if left <= 0.01:
            raise Transient(self.name, f"{self.name} did not answer in time (time budget spent)")
        return min(connect, left), min(read, left)


def _raw(timeout: Timeout) -> dict[str, Any]:
    """Keyword arguments for a client call: our timeout, and the undecoded response."""
    return {"_request_timeout": timeout, "_preload_content": False}


def _write_mode(idempotent: bool) -> Mode:
    return Mode.IDEMPOTENT if idempotent else Mode.ONCE


def _delete_options(uid: str | None, propagation: str | None) -> k8s_client.V1DeleteOptions:
    return k8s_client.V1DeleteOptions(
        preconditions=k8s_client.V1Preconditions(uid=uid) if uid else None,
        propagation_policy=propagation,
    )


def _credentials(configuration: k8s_client.Configuration) -> tuple[str, ...]:
    """The secrets a client sends, so that error messages can be scrubbed of them."""
    found: list[str] = []
    for value in (configuration.api_key or {}).values():
        if isinstance(value, str) and value:
            found.append(value.split(" ", 1)[-1])
    password = configuration.password
    if isinstance(password, str) and password:
        found.append(password)
    return tuple(found)


def _model(model: type[T], body: Obj) -> T:
    # The generated client validates and accepts the JSON form of a model argument.
    return cast(T, body)
