"""How one call reaches a cluster: timeouts, retries, error translation, JSON and paging.

`Transport` holds one client and the generated API objects the calls use; `k8s.access`'s
`ClusterApi` adds the calls themselves. Every request has a timeout, goes through `k8s.retry`
(urllib3's retries are off) and raises only `k8s.errors`; objects come back as the server's JSON.
"""

from __future__ import annotations

import functools
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


def raw(timeout: Timeout) -> dict[str, Any]:
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
