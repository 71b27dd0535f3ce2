"""The clusters the bot can reach: one Kubernetes client per cluster, from a kubeconfig.

`ClusterRegistry` turns a kubeconfig (every context is a cluster, named by the context) and
optionally the pod's in-cluster account into one `ApiClient` each — never the process-wide
default configuration, and with urllib3's retries off (`k8s.retry` decides what to repeat) — and
hands out a `k8s.access.ClusterApi` per cluster. Loading kubeconfigs and building clients is kept
here, apart from the calls made with them (`k8s.access`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes.config.config_exception import ConfigException

from k8s.access import ClusterApi
from k8s.access.transport import ClientSettings
from k8s.errors import ClusterError, UnknownCluster, scrub

# The client's config helpers carry no annotations; these give them a type at one place.
_list_contexts: Callable[..., tuple[list[dict[str, Any]], Any]] = (
    k8s_config.list_kube_config_contexts
)
_new_client: Callable[..., k8s_client.ApiClient] = k8s_config.new_client_from_config
_load_incluster: Callable[..., None] = k8s_config.load_incluster_config
_close: Callable[[k8s_client.ApiClient], None] = k8s_client.ApiClient.close


class ClusterRegistry:
    """The clusters the bot can reach, by name, each with its own client and settings."""

    def __init__(
        self,
        clients: Mapping[str, k8s_client.ApiClient],
        settings: ClientSettings | None = None,
    ) -> None:
        self._clients = dict(clients)
        self.settings = settings or ClientSettings()
        self._apis: dict[str, ClusterApi] = {}

    @classmethod
    def from_kubeconfig(
        cls,
        kubeconfig: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None,
        *,
        in_cluster: str | None = None,
        settings: ClientSettings | None = None,
    ) -> ClusterRegistry:
        """Every context of `kubeconfig` (a path, a KUBECONFIG-style `a:b` list, or a list of
        paths) becomes a cluster named by the context; `in_cluster` names the pod's own
        cluster, read from its service account, if given."""
        clients: dict[str, k8s_client.ApiClient] = {}
        try:
            if kubeconfig is not None:
                path = _join_paths(kubeconfig)
                try:
                    contexts, _current = _list_contexts(config_file=path)
                except (ConfigException, OSError) as e:
                    why = scrub(str(e))
                    raise ClusterError("kubeconfig", f"cannot read the kubeconfig ({why})") from e
                for context in contexts or []:
                    name = str(context["name"])
                    clients[name] = _client_for_context(path, name)
            if in_cluster is not None:
                if in_cluster in clients:
                    raise ValueError(f"in-cluster name {in_cluster!r} is also a kubeconfig context")
                clients[in_cluster] = _in_cluster_client(in_cluster)
        except BaseException:
            for built in clients.values():  # the contexts before the one that failed
                _close(built)
            raise
        return cls(clients, settings)

    def names(self) -> list[str]:
        return sorted(self._clients)

    def client(self, name: str) -> k8s_client.ApiClient:
        try:
            return self._clients[name]
        except KeyError:
            raise UnknownCluster(name, self._clients) from None

    def api(self, name: str) -> ClusterApi:
        api = self._apis.get(name)
        if api is None:
            api = self._apis[name] = ClusterApi(name, self.client(name), self.settings)
        return api

    def close(self) -> None:
        for api_client in self._clients.values():
            _close(api_client)

    def __enter__(self) -> ClusterRegistry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _join_paths(kubeconfig: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> str:
    if isinstance(kubeconfig, str | os.PathLike):
        return os.fspath(kubeconfig)
    return os.pathsep.join(os.fspath(p) for p in kubeconfig)


def _new_configuration() -> k8s_client.Configuration:
    configuration = k8s_client.Configuration()
    configuration.retries = False  # k8s.retry decides what to repeat
    return configuration


def _client_for_context(path: str, context: str) -> k8s_client.ApiClient:
    configuration = _new_configuration()
    try:
        api_client: k8s_client.ApiClient = _new_client(
            config_file=path,
            context=context,
            persist_config=False,
            client_configuration=configuration,
        )
        return api_client
    except (ConfigException, OSError, ValueError) as e:
        raise ClusterError(context, f"{context}: its kubeconfig context cannot be used") from e


def _in_cluster_client(name: str) -> k8s_client.ApiClient:
    configuration = _new_configuration()
    try:
        _load_incluster(client_configuration=configuration)
    except (ConfigException, OSError) as e:
        raise ClusterError(name, f"{name}: no in-cluster service account ({scrub(str(e))})") from e
    return k8s_client.ApiClient(configuration)
