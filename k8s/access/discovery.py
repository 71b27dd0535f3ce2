"""What a cluster serves (its version, its API groups) and KubeSphere's own API, reached through
the kube-apiserver's service proxy."""

from __future__ import annotations

from kubernetes import client as k8s_client

from k8s.access.transport import Obj, Transport
from k8s.retry import Mode


class Discovery(Transport):
    def version(self) -> Obj:
        """The kube-apiserver's `/version` (gitVersion, major, minor, ...)."""
        api = k8s_client.VersionApi(self._client)
        return self._json(Mode.READ, api.get_code)

    def api_groups(self) -> dict[str, tuple[str, ...]]:
        """Served API groups (core excluded) → their versions, preferred first."""
        api = k8s_client.ApisApi(self._client)
        listed = self._json(Mode.READ, api.get_api_versions)
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
            self._core.connect_get_namespaced_service_proxy_with_path,
            service,
            namespace,
            path.lstrip("/"),
        )

    def proxy_post(self, namespace: str, service: str, path: str, body: Obj) -> bytes:
        """POST JSON through the service proxy (the transport builds the request: the generated
        proxy call sends no body)."""
        resource = f"/api/v1/namespaces/{namespace}/services/{service}/proxy/{path.lstrip('/')}"
        # validation changes nothing: a retry is harmless
        return self._request(Mode.READ, self._post_json, resource, body)
