"""How one call reaches a cluster: timeouts, retries, error translation, JSON and paging.

`Transport` holds one client and the generated API objects the calls use; `k8s.access`'s
`ClusterApi` adds the calls themselves, each naming a method of the generated client and its
arguments (no function of their own is called back from here). Every request has a timeout, goes
through `k8s.retry` (urllib3's retries are off) and raises only `k8s.errors`; objects come back
as the server's JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import urllib3.exceptions
from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException

from k8s.errors import ClusterError, Transient, translate
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


_NETWORK_ERRORS = (ApiException, urllib3.exceptions.HTTPError, OSError)


class Transport:
    """One cluster's client and the plumbing every call goes through. Thread-safe: urllib3
    pools connections."""

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

    @property
    def server(self) -> str:
        """The API server URL this client talks to (what a kubeconfig for it names)."""
        return str(self._client.configuration.host)

    def _json(self, mode: Mode, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Obj:
        """The JSON object `call(*args, **kwargs)` answers (see `_request`)."""
        data = self._request(mode, call, *args, **kwargs)
        try:
            value = json.loads(data) if data else {}
        except ValueError as e:
            raise Transient(self.name, f"{self.name} answered with something not JSON") from e
        if not isinstance(value, dict):
            raise ClusterError(self.name, f"{self.name} answered with a JSON {type(value)}")
        return value

    def _request(self, mode: Mode, call: Callable[..., Any], *args: Any, **kwargs: Any) -> bytes:
        """The raw answer of `call(*args, **kwargs)`, a method of the generated client (or one
        called like it), given our timeout and asked for the undecoded response; retried as
        `mode` allows. The calls name the client's method and its arguments rather than passing
        a function of their own, so no call comes back up into the module that made it."""

        for attempt in self.settings.retrier.attempts(mode, self.deadline):
            with attempt:
                return self._send(call, *args, **kwargs)
        raise AssertionError("unreachable: attempts() never ends")  # pragma: no cover

    def _send(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> bytes:
        """One attempt of `_request`: the call with what is left of the deadline as timeout."""
        timeout = self._timeout()
        try:
            response = call(*args, **kwargs, **_raw(timeout))
            try:
                return bytes(response.data)
            finally:
                response.release_conn()
        except _NETWORK_ERRORS as e:
            secrets = _credentials(self._client.configuration)  # tokens may be refreshed
            raise translate(self.name, e, secrets=secrets) from e

    def _list(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> list[Obj]:
        """Every item `call(*args, **kwargs)` lists, page by page; restarts once if the continue
        token expires (410)."""
        items: list[Obj] = []
        token: str | None = None
        restarted = False
        limit = self.settings.page_size
        while True:
            try:
                page = self._json(Mode.READ, call, *args, **kwargs, limit=limit, _continue=token)
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

    def _post_json(self, resource: str, body: Obj, **options: Any) -> Any:
        """POST `body` as JSON to `resource`, called the way `_request` calls the generated
        client's methods: the generated client has no call that sends a body through the
        service proxy, so this builds the request with the client's public `param_serialize`
        (same auth, same TLS). The answer is never preloaded."""
        request = self._client.param_serialize(
            "POST",
            resource,
            header_params={"Content-Type": "application/json", "Accept": "application/json"},
            body=body,
            auth_settings=["BearerToken"],
        )
        response = self._client.call_api(*request, _request_timeout=options["_request_timeout"])
        if not 200 <= response.status <= 299:
            response.read()  # type: ignore[no-untyped-call]
            raise ApiException.from_response(http_resp=response, body=None, data=None)
        return response.response


def _raw(timeout: Timeout) -> dict[str, Any]:
    """Keyword arguments for a client call: our timeout, and the undecoded response."""
    return {"_request_timeout": timeout, "_preload_content": False}


def write_mode(idempotent: bool) -> Mode:
    return Mode.IDEMPOTENT if idempotent else Mode.ONCE


def delete_options(uid: str | None, propagation: str | None) -> k8s_client.V1DeleteOptions:
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
