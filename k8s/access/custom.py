"""The calls on custom objects (KubeSphere's and KubeFed's types, named in `k8s.kinds`), through
the generated client's CustomObjectsApi."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from k8s.access.transport import MERGE_PATCH, Obj, Transport, delete_options, write_mode
from k8s.kinds import CustomResource
from k8s.retry import Mode


class CustomObjects(Transport):
    def get_custom(self, res: CustomResource, name: str, namespace: str | None = None) -> Obj:
        call, head = self._custom_method("get", res, namespace)
        return self._json(Mode.READ, call, *head, name)

    def list_custom(
        self, res: CustomResource, namespace: str | None = None, label_selector: str | None = None
    ) -> list[Obj]:
        """All objects (of `namespace`, or of every namespace for a namespaced type)."""
        call, head = self._custom_method("list", res, namespace)
        return self._list(call, *head, label_selector=label_selector)

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
        return self._json(write_mode(idempotent), call, *head, body)

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
            write_mode(idempotent), call, *head, name, patch, _content_type=MERGE_PATCH
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
        body = delete_options(uid, propagation)
        return self._json(write_mode(idempotent), call, *head, name, body=body)

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
