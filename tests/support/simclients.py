"""The official kubernetes client against every cluster of a simulated world, one ApiClient per
cluster (the kubeconfig's context), opened when first used and closed together."""

from __future__ import annotations

from pathlib import Path

from kubernetes import client, config

from k8s.sim.world import World


class SimClients:
    def __init__(self, world: World, kubeconfig: Path) -> None:
        self.world = world
        self.kubeconfig = kubeconfig
        self._apis: dict[str, client.ApiClient] = {}

    def api(self, cluster: str) -> client.ApiClient:
        if cluster not in self._apis:
            self._apis[cluster] = config.new_client_from_config(
                config_file=str(self.kubeconfig), context=cluster
            )
        return self._apis[cluster]

    def core(self, cluster: str) -> client.CoreV1Api:
        return client.CoreV1Api(self.api(cluster))

    def custom(self, cluster: str) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api(cluster))

    def apps(self, cluster: str) -> client.AppsV1Api:
        return client.AppsV1Api(self.api(cluster))

    def close(self) -> None:
        for api in self._apis.values():
            api.close()
