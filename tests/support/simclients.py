"""The official kubernetes client against every cluster of a simulated world, one ApiClient per
cluster (the kubeconfig's context), opened when first used and closed together; and typed
doorways into the parts of the client its annotations leave out."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import urllib3
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from k8s.sim.world import World

M = TypeVar("M")

# only deserializes, never connects
_DESERIALIZER = client.ApiClient()


def model(kind: type[M], body: dict[str, Any]) -> M:
    """`body` (an object as the API writes it: camelCase keys) as the client's model `kind`
    (V1Namespace, V1ConfigMap...), built by the client's own deserializer as if the server had
    sent it. The client serializes it back to the same JSON, as long as `body` has no field the
    model lacks: what the API methods' annotations ask for, where a plain dict is shorter."""
    built = _DESERIALIZER.deserialize(json.dumps(body), kind.__name__, "application/json")
    assert isinstance(built, kind), built
    return built


def as_dict(obj: object) -> dict[str, Any]:
    """A custom object (or list) as the client returns it: decoded JSON, annotated `object`."""
    assert isinstance(obj, dict), obj
    return obj


def raw_body(response: object) -> bytes:
    """The body of a call made with `_preload_content=False`, which returns the urllib3 response
    rather than the model its annotation names."""
    assert isinstance(response, urllib3.BaseHTTPResponse), response
    return response.data


def error_body(e: ApiException) -> Any:
    """An API error's body (a Status), decoded."""
    assert e.body is not None, e
    return json.loads(e.body)


def name_of(meta: client.V1ObjectMeta | None) -> str:
    """metadata.name, which the models type Optional (set on every object the API returns)."""
    assert meta is not None and meta.name is not None, meta
    return meta.name


def new_client(kubeconfig: Path | str, context: str) -> client.ApiClient:
    """config.new_client_from_config, which the kubernetes package leaves unannotated."""
    api: client.ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(kubeconfig), context=context
    )
    return api


def close(api: client.ApiClient) -> None:
    """ApiClient.close, which the kubernetes package leaves unannotated."""
    api.close()  # type: ignore[no-untyped-call]


class Watch:
    """kubernetes.watch.Watch, which the kubernetes package leaves unannotated: `stream` yields
    the events as dicts ("type", "object": a model, or a dict for custom objects)."""

    def __init__(self) -> None:
        self._watch = watch.Watch()  # type: ignore[no-untyped-call]

    def stream(self, func: Callable[..., object], *args: Any, **kwargs: Any) -> Iterator[Any]:
        events: Iterator[Any] = self._watch.stream(func, *args, **kwargs)  # type: ignore[no-untyped-call]
        return events

    def stop(self) -> None:
        self._watch.stop()  # type: ignore[no-untyped-call]


class SimClients:
    def __init__(self, world: World, kubeconfig: Path) -> None:
        self.world = world
        self.kubeconfig = kubeconfig
        self._apis: dict[str, client.ApiClient] = {}

    def api(self, cluster: str) -> client.ApiClient:
        if cluster not in self._apis:
            self._apis[cluster] = new_client(self.kubeconfig, cluster)
        return self._apis[cluster]

    def core(self, cluster: str) -> client.CoreV1Api:
        return client.CoreV1Api(self.api(cluster))

    def custom(self, cluster: str) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api(cluster))

    def apps(self, cluster: str) -> client.AppsV1Api:
        return client.AppsV1Api(self.api(cluster))

    def close(self) -> None:
        for api in self._apis.values():
            close(api)
