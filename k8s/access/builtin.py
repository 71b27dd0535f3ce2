"""The calls on Kubernetes' own objects: namespaces, config maps, secrets, service accounts,
cluster role bindings, nodes."""

from __future__ import annotations

from typing import TypeVar, cast

from kubernetes import client as k8s_client

from k8s.access.transport import (
    MERGE_PATCH,
    Obj,
    Transport,
    delete_options,
    raw,
    write_mode,
)
from k8s.retry import Mode

T = TypeVar("T")


class BuiltinObjects(Transport):
    # ---- namespaces ------------------------------------------------------------------------

    def get_namespace(self, name: str) -> Obj:
        return self._json(Mode.READ, lambda t: self._core.read_namespace(name, **raw(t)))

    def list_namespaces(self, label_selector: str | None = None) -> list[Obj]:
        return self._list(
            lambda token, limit, t: self._core.list_namespace(
                label_selector=label_selector, limit=limit, _continue=token, **raw(t)
            )
        )

    def patch_namespace(self, name: str, patch: Obj, *, idempotent: bool = True) -> Obj:
        """JSON merge patch (null removes a key, a list replaces the whole list)."""
        return self._json(
            write_mode(idempotent),
            lambda t: self._core.patch_namespace(name, patch, _content_type=MERGE_PATCH, **raw(t)),
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
        return self._json(
            write_mode(idempotent),
            lambda t: self._core.delete_namespace(name, body=body, **raw(t)),
        )

    # ---- other built-in objects ------------------------------------------------------------

    def get_configmap(self, namespace: str, name: str) -> Obj:
        return self._json(
            Mode.READ, lambda t: self._core.read_namespaced_config_map(name, namespace, **raw(t))
        )

    def list_configmaps(self, namespace: str, label_selector: str | None = None) -> list[Obj]:
        return self._list(
            lambda token, limit, t: self._core.list_namespaced_config_map(
                namespace, label_selector=label_selector, limit=limit, _continue=token, **raw(t)
            )
        )

    def get_secret(self, namespace: str, name: str) -> Obj:
        return self._json(
            Mode.READ, lambda t: self._core.read_namespaced_secret(name, namespace, **raw(t))
        )

    def list_service_accounts(self, namespace: str, label_selector: str | None = None) -> list[Obj]:
        return self._list(
            lambda token, limit, t: self._core.list_namespaced_service_account(
                namespace,
                label_selector=label_selector,
                limit=limit,
                _continue=token,
                **raw(t),
            )
        )

    def create_service_account(self, namespace: str, body: Obj) -> Obj:
        return self._json(
            Mode.ONCE,
            lambda t: self._core.create_namespaced_service_account(
                namespace, _model(k8s_client.V1ServiceAccount, body), **raw(t)
            ),
        )

    def delete_service_account(self, namespace: str, name: str) -> Obj:
        return self._json(
            Mode.IDEMPOTENT,
            lambda t: self._core.delete_namespaced_service_account(name, namespace, **raw(t)),
        )

    def create_secret(self, namespace: str, body: Obj) -> Obj:
        return self._json(
            Mode.ONCE,
            lambda t: self._core.create_namespaced_secret(
                namespace, _model(k8s_client.V1Secret, body), **raw(t)
            ),
        )

    def delete_secret(self, namespace: str, name: str) -> Obj:
        return self._json(
            Mode.IDEMPOTENT,
            lambda t: self._core.delete_namespaced_secret(name, namespace, **raw(t)),
        )

    def create_cluster_role_binding(self, body: Obj) -> Obj:
        return self._json(
            Mode.ONCE,
            lambda t: self._rbac.create_cluster_role_binding(
                _model(k8s_client.V1ClusterRoleBinding, body), **raw(t)
            ),
        )

    def delete_cluster_role_binding(self, name: str) -> Obj:
        return self._json(
            Mode.IDEMPOTENT, lambda t: self._rbac.delete_cluster_role_binding(name, **raw(t))
        )

    def count_nodes(self) -> int:
        """How many nodes, without downloading them all when the server reports the rest."""
        first = self._json(Mode.READ, lambda t: self._core.list_node(limit=1, **raw(t)))
        meta = first.get("metadata") or {}
        counted = len(first.get("items") or [])
        remaining = meta.get("remainingItemCount")
        if not meta.get("continue"):
            return counted
        if isinstance(remaining, int):
            return counted + remaining
        return len(
            self._list(
                lambda token, limit, t: self._core.list_node(limit=limit, _continue=token, **raw(t))
            )
        )


def _model(model: type[T], body: Obj) -> T:
    # The generated client validates and accepts the JSON form of a model argument.
    return cast(T, body)
