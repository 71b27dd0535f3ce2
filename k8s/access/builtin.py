"""The calls on Kubernetes' own objects: namespaces, config maps, secrets, service accounts,
cluster role bindings, nodes."""

from __future__ import annotations

from typing import TypeVar, cast

from kubernetes import client as k8s_client

from k8s.access.transport import MERGE_PATCH, Obj, Transport, delete_options, write_mode
from k8s.retry import Mode

T = TypeVar("T")


class BuiltinObjects(Transport):
    # ---- namespaces ------------------------------------------------------------------------

    def get_namespace(self, name: str) -> Obj:
        return self._json(Mode.READ, self._core.read_namespace, name)

    def list_namespaces(self, label_selector: str | None = None) -> list[Obj]:
        return self._list(self._core.list_namespace, label_selector=label_selector)

    def patch_namespace(self, name: str, patch: Obj, *, idempotent: bool = True) -> Obj:
        """JSON merge patch (null removes a key, a list replaces the whole list)."""
        return self._json(
            write_mode(idempotent),
            self._core.patch_namespace,
            name,
            patch,
            _content_type=MERGE_PATCH,
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
        body = delete_options(uid, propagation)
        return self._json(write_mode(idempotent), self._core.delete_namespace, name, body=body)

    # ---- other built-in objects ------------------------------------------------------------

    def get_configmap(self, namespace: str, name: str) -> Obj:
        return self._json(Mode.READ, self._core.read_namespaced_config_map, name, namespace)

    def list_configmaps(self, namespace: str, label_selector: str | None = None) -> list[Obj]:
        return self._list(
            self._core.list_namespaced_config_map, namespace, label_selector=label_selector
        )

    def get_secret(self, namespace: str, name: str) -> Obj:
        return self._json(Mode.READ, self._core.read_namespaced_secret, name, namespace)

    def list_service_accounts(self, namespace: str, label_selector: str | None = None) -> list[Obj]:
        return self._list(
            self._core.list_namespaced_service_account, namespace, label_selector=label_selector
        )

    def create_service_account(self, namespace: str, body: Obj) -> Obj:
        return self._json(
            Mode.ONCE,
            self._core.create_namespaced_service_account,
            namespace,
            _model(k8s_client.V1ServiceAccount, body),
        )

    def delete_service_account(self, namespace: str, name: str) -> Obj:
        return self._json(
            Mode.IDEMPOTENT, self._core.delete_namespaced_service_account, name, namespace
        )

    def create_secret(self, namespace: str, body: Obj) -> Obj:
        return self._json(
            Mode.ONCE,
            self._core.create_namespaced_secret,
            namespace,
            _model(k8s_client.V1Secret, body),
        )

    def delete_secret(self, namespace: str, name: str) -> Obj:
        return self._json(Mode.IDEMPOTENT, self._core.delete_namespaced_secret, name, namespace)

    def create_cluster_role_binding(self, body: Obj) -> Obj:
        return self._json(
            Mode.ONCE,
            self._rbac.create_cluster_role_binding,
            _model(k8s_client.V1ClusterRoleBinding, body),
        )

    def delete_cluster_role_binding(self, name: str) -> Obj:
        return self._json(Mode.IDEMPOTENT, self._rbac.delete_cluster_role_binding, name)

    def count_nodes(self) -> int:
        """How many nodes, without downloading them all when the server reports the rest."""
        first = self._json(Mode.READ, self._core.list_node, limit=1)
        meta = first.get("metadata") or {}
        counted = len(first.get("items") or [])
        remaining = meta.get("remainingItemCount")
        if not meta.get("continue"):
            return counted
        if isinstance(remaining, int):
            return counted + remaining
        return len(self._list(self._core.list_node))


def _model(model: type[T], body: Obj) -> T:
    # The generated client validates and accepts the JSON form of a model argument.
    return cast(T, body)
