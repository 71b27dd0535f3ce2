"""What a cluster serves (its version, its API groups) and KubeSphere's own API, reached through
the kube-apiserver's service proxy."""

from __future__ import annotations

from typing import Any

from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException

from k8s.access.transport import Obj, Timeout, Transport, raw
from k8s.retry import Mode


class Discovery(Transport):
    def version(self) -> Obj:
        """The kube-apiserver's `/version` (gitVersion, major, minor, ...)."""
        api = k8s_client.VersionApi(self._client)
        return self._json(Mode.READ, lambda t: api.get_code(**raw(t)))

    def api_groups(self) -> dict[str, tuple[str, ...]]:
        """Served API groups (core excluded) → their versions, preferred first."""
        api = k8s_client.ApisApi(self._client)
        listed = self._json(Mode.READ, lambda t: api.get_api_versions(**raw(t)))
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
                service, namespace, path.lstrip("/"), **raw(t)
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
