"""Proves the simulator's controllers, garbage collection and ks-installer take time, as on a real
cluster, and that `/_sim/settle` waits for all of it (k8s/sim/timing.py).

Checked here: with `controllerDelay` a namespace labelled into a workspace is not bound right after
the write and is after settling; deleting a Workspace leaves its namespaces Active for the lag
(garbage collection is asynchronous) and gone after settling; a namespace holding a finalizer
nobody removes (`example.com/hold`, in metadata or spec) stays Terminating until it is removed; a
ClusterConfiguration spec change reaches kubesphere-config only after the installer delay (60x
the controller lag unless set) and settle waits for it; the world YAML keys and the CLI flags.
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client import V1ConfigMap, V1Namespace
from simclients import close, model, new_client

from k8s.sim import cli, loader, timing
from k8s.sim.world import World

WORKSPACES = ("tenant.kubesphere.io", "v1alpha1", "workspaces")
CC = ("installer.kubesphere.io", "v1alpha1", "kubesphere-system", "clusterconfigurations")
WS = "kubesphere.io/workspace"
LAG = 0.3

WORLD = {
    "clusters": [
        {
            "name": "solo",
            "kubesphere": {"role": "none", "jwtSecret": "s" * 32, "components": {"logging": True}},
        }
    ],
    "objects": [
        {
            "cluster": "solo",
            "items": [
                {
                    "apiVersion": "tenant.kubesphere.io/v1alpha2",
                    "kind": "WorkspaceTemplate",
                    "metadata": {"name": "team"},
                    "spec": {"template": {"spec": {"manager": "admin"}}},
                }
            ],
        }
    ],
}


def start(tmp_path: Path, **keys: Any) -> tuple[World, client.ApiClient]:
    path = tmp_path / "world.yaml"
    path.write_text(yaml.safe_dump({**WORLD, **keys}))
    world = loader.start(str(path))
    kubeconfig = world.write_kubeconfig(tmp_path / "kubeconfig")
    return world, new_client(str(kubeconfig), "solo")


@pytest.fixture
def lagging(tmp_path: Path) -> Iterator[tuple[World, client.ApiClient]]:
    world, api = start(tmp_path, controllerDelay=LAG, installerDelay=1.5)
    yield world, api
    close(api)
    world.stop()
    assert world.controller_errors == []


def test_the_world_keys_set_the_lags(lagging: tuple[World, client.ApiClient]) -> None:
    world, _ = lagging
    assert world.controller_delay == LAG
    assert timing.installer_delay(world) == 1.5
    assert timing.installer_delay(World(controller_delay=0.5)) == 30.0  # 60 x the lag


def test_a_controller_reacts_after_the_lag(lagging: tuple[World, client.ApiClient]) -> None:
    world, api = lagging
    core = client.CoreV1Api(api)
    core.create_namespace(
        model(V1Namespace, {"metadata": {"name": "proj", "labels": {WS: "team"}}})
    )
    fresh = core.read_namespace("proj")
    assert not fresh.metadata.owner_references and not fresh.metadata.finalizers
    assert world.settle(10)
    bound = core.read_namespace("proj")
    assert [r.kind for r in bound.metadata.owner_references] == ["Workspace"]
    assert "finalizers.kubesphere.io/namespaces" in bound.metadata.finalizers


def test_garbage_collection_takes_the_lag(lagging: tuple[World, client.ApiClient]) -> None:
    world, api = lagging
    core = client.CoreV1Api(api)
    core.create_namespace(
        model(V1Namespace, {"metadata": {"name": "proj", "labels": {WS: "team"}}})
    )
    assert world.settle(10)
    client.CustomObjectsApi(api).delete_cluster_custom_object(*WORKSPACES, "team")
    assert core.read_namespace("proj").status.phase == "Active"
    assert world.settle(10)
    assert "proj" not in {n.metadata.name for n in core.list_namespace().items}


@pytest.mark.parametrize("where", ["metadata", "spec"])
def test_a_foreign_finalizer_keeps_a_namespace_terminating(
    lagging: tuple[World, client.ApiClient], where: str
) -> None:
    world, api = lagging
    core = client.CoreV1Api(api)
    hold = ["example.com/hold"]
    body: dict[str, Any] = (
        {"metadata": {"name": "held", "finalizers": hold}}
        if where == "metadata"
        else {"metadata": {"name": "held"}, "spec": {"finalizers": hold}}
    )
    core.create_namespace(model(V1Namespace, body))
    core.create_namespaced_config_map("held", model(V1ConfigMap, {"metadata": {"name": "cm"}}))
    core.delete_namespace("held")
    assert world.settle(10)
    time.sleep(2 * LAG)
    assert world.settle(10)
    ns = core.read_namespace("held")
    assert ns.status.phase == "Terminating"
    assert core.list_namespaced_config_map("held").items == []  # content goes, the namespace not
    if where == "metadata":
        core.patch_namespace("held", {"metadata": {"finalizers": None}})
    else:
        ns.spec.finalizers = [f for f in ns.spec.finalizers if f != "example.com/hold"]
        core.replace_namespace_finalize("held", ns)
    assert world.settle(10)
    assert "held" not in {n.metadata.name for n in core.list_namespace().items}


def test_the_installer_takes_its_delay_and_settle_waits(
    lagging: tuple[World, client.ApiClient],
) -> None:
    world, api = lagging
    core = client.CoreV1Api(api)

    def logging_enabled() -> bool:
        cm = core.read_namespaced_config_map("kubesphere-config", "kubesphere-system")
        return "logging" in yaml.safe_load(cm.data["kubesphere.yaml"])

    assert logging_enabled()
    patch = {"spec": {"logging": {"enabled": False}}}
    client.CustomObjectsApi(api).patch_namespaced_custom_object(*CC[:2], CC[2], CC[3],
                                                                "ks-installer", patch)  # fmt: skip
    began = time.monotonic()
    time.sleep(3 * LAG)
    assert logging_enabled(), "kubesphere-config changed before the playbooks could have run"
    token = world.kubeconfig(["solo"])["users"][0]["user"]["token"]
    request = urllib.request.Request(
        f"{world.clusters['solo'].url}/_sim/settle?timeout=20",
        headers={"Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=30) as resp:
        assert json.loads(resp.read()) == {"settled": True}
    assert time.monotonic() - began >= 1.5 - 0.05
    assert not logging_enabled()


def test_the_cli_takes_the_delay_flags() -> None:
    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(["sim", "--controller-delay", "0.2", "--installer-delay", "5"])
    assert (args.controller_delay, args.installer_delay) == (0.2, 5.0)
    bad = parser.parse_args(["sim", "--controller-delay", "-1"])
    assert cli.run(bad) == 2


def test_a_negative_world_delay_is_refused() -> None:
    with pytest.raises(loader.WorldError, match="controllerDelay"):
        loader.build({**WORLD, "controllerDelay": -1})
