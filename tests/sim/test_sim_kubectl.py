"""Proves kubectl works against the simulator with no special flags, by carrying out the
documented manual migration of `member-a` from host-a to host-b keeping ns1 (the procedure
ksmc-bot automates) and checking the outcome: ns1 survives, bound to the new team-x Workspace;
ns2, left in the old workspace, is garbage-collected; member-a is Ready on host-b only.

Also checked: server-side tables and short names, `kubectl get -w`, `kubectl wait`,
`kubectl apply -f` (create, then a three-way merge that drops a removed field, for a built-in
and a custom resource), and kubectl's generator commands (`create namespace|configmap|secret|
serviceaccount`), which send protobuf bodies.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubectl import tls_kubeconfig

from k8s.sim import loader
from k8s.sim.world import World

pytestmark = [
    pytest.mark.kubectl,
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not on PATH"),
]

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def kubectl(sim_kubeconfig: Path, tmp_path: Path) -> Kubectl:
    """`kubectl(context, *args)` runs kubectl against `sim_world`; `check=False` allows failure."""
    config = tls_kubeconfig(sim_kubeconfig, tmp_path / "kubeconfig-tls")
    env = {**os.environ, "KUBECONFIG": str(config)}
    cache = tmp_path / "kube-cache"

    def run(context: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = ["kubectl", f"--cache-dir={cache}", "--context", context, *args]
        result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed: {result.stderr}")
        return result

    return run


def get_json(kubectl: Kubectl, context: str, *args: str) -> dict[str, Any]:
    return dict(json.loads(kubectl(context, "get", *args, "-o", "json").stdout))


def wait_until(check: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def ready(cluster: dict[str, Any]) -> bool:
    conds = (cluster.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conds)


def test_manual_migration_member_a_to_host_b_keeping_ns1(
    kubectl: Kubectl, sim_world: World, tmp_path: Path
) -> None:
    m, old_host, new_host = "member-a", "host-a", "host-b"
    listed = kubectl(m, "get", "ns").stdout
    assert {"ns1", "ns2", "ns3", "scratch"} <= {line.split()[0] for line in listed.splitlines()}
    in_team_x = kubectl(m, "get", "ns", "-l", "kubesphere.io/workspace=team-x", "-o", "name")
    assert in_team_x.stdout.split() == ["namespace/ns1", "namespace/ns2"]
    old_ws_uid = kubectl(m, "get", "workspace", "team-x", "-o", "jsonpath={.metadata.uid}").stdout

    # 1. unbind the kept namespace
    assert "unlabeled" in kubectl(m, "label", "ns", "ns1", "kubesphere.io/workspace-").stdout
    kubectl(m, "patch", "ns", "ns1", "-p", '{"metadata":{"ownerReferences":[]}}', "--type=merge")
    ns1 = get_json(kubectl, m, "ns", "ns1")
    assert "ownerReferences" not in ns1["metadata"]
    assert "kubesphere.io/workspace" not in ns1["metadata"]["labels"]

    # 2. delete the old workspace: on a 3.x member it exists only as a Workspace
    missing = kubectl(m, "delete", "workspacetemplate", "team-x", check=False)
    assert missing.returncode == 1
    assert 'workspacetemplates.tenant.kubesphere.io "team-x" not found' in missing.stderr
    kubectl(m, "delete", "workspace", "team-x")

    # 3. unbind from the old host, import into the new one under the same name
    table = kubectl(old_host, "get", "clusters.cluster.kubesphere.io").stdout.splitlines()
    assert table[0].split() == ["NAME", "FEDERATED", "PROVIDER", "READY", "AGE"]
    assert table[2].split()[:4] == ["member-a", "True", "kubesphere", "True"]
    kubectl(old_host, "delete", "clusters.cluster.kubesphere.io", m)
    manifest = tmp_path / "member-a.yaml"
    manifest.write_text(yaml.safe_dump(loader.cluster_object(sim_world.clusters[m])))
    assert "created" in kubectl(new_host, "create", "-f", str(manifest)).stdout
    kubectl(
        new_host,
        "wait",
        "--for=condition=Ready",
        "--timeout=10s",
        "clusters.cluster.kubesphere.io/member-a",
    )

    # 4. a workspace on the new host placed on the member, then re-label the kept namespace
    template = tmp_path / "team-x.yaml"
    template.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "tenant.kubesphere.io/v1alpha2",
                "kind": "WorkspaceTemplate",
                "metadata": {"name": "team-x"},
                "spec": {
                    "template": {"spec": {"manager": "admin"}},
                    "placement": {"clusters": [{"name": m}]},
                },
            }
        )
    )
    kubectl(new_host, "create", "-f", str(template))
    wait_until(
        lambda: kubectl(m, "get", "workspace", "team-x", check=False).returncode == 0,
        what="host-b's team-x Workspace on member-a",
    )
    kubectl(m, "label", "ns", "ns1", "kubesphere.io/workspace=team-x")

    new_ws = get_json(kubectl, m, "workspace", "team-x")
    assert new_ws["metadata"]["uid"] != old_ws_uid
    assert new_ws["metadata"]["labels"]["kubefed.io/managed"] == "true"

    def ns1_bound() -> bool:
        refs = get_json(kubectl, m, "ns", "ns1")["metadata"].get("ownerReferences") or []
        return [r["uid"] for r in refs] == [new_ws["metadata"]["uid"]]

    wait_until(ns1_bound, what="ns1 bound to the new workspace")
    ns1 = get_json(kubectl, m, "ns", "ns1")
    assert ns1["status"]["phase"] == "Active"
    assert ns1["metadata"]["annotations"]["kubesphere.io/alias-name"] == "NS One"
    assert get_json(kubectl, m, "cm", "app-settings", "-n", "ns1")["data"] == {"LOG_LEVEL": "info"}
    gone = kubectl(m, "get", "ns", "ns2", check=False)
    assert gone.returncode == 1 and 'namespaces "ns2" not found' in gone.stderr
    assert {"ns3", "scratch"} <= {
        n["metadata"]["name"] for n in get_json(kubectl, m, "ns")["items"]
    }
    assert ready(get_json(kubectl, new_host, "clusters.cluster.kubesphere.io", m))
    absent = kubectl(old_host, "get", "clusters.cluster.kubesphere.io", m, check=False)
    assert absent.returncode == 1 and "not found" in absent.stderr
    assert sim_world.controller_errors == []


def test_tables_short_names_and_label_columns(kubectl: Kubectl) -> None:
    out = kubectl("member-a", "get", "ns", "-L", "kubesphere.io/workspace").stdout.splitlines()
    assert out[0].split() == ["NAME", "STATUS", "AGE", "WORKSPACE"]
    rows = {line.split()[0]: line.split() for line in out[1:]}
    assert rows["ns1"][1] == "Active" and rows["ns1"][3] == "team-x"
    assert rows["ns3"][3] == "team-y" and len(rows["scratch"]) == 3
    cc = kubectl("member-a", "get", "cc", "-n", "kubesphere-system", "-o", "name").stdout
    assert cc.split() == ["clusterconfiguration.installer.kubesphere.io/ks-installer"]
    assert kubectl("member-a", "get", "cm", "-n", "ns1", "-o", "name").stdout.split() == [
        "configmap/app-settings"
    ]
    sa = kubectl("member-a", "get", "sa", "-n", "kube-federation-system", "-o", "name").stdout
    assert sa.split() == ["serviceaccount/member-a-kubesphere"]


def test_get_watch_streams_changes(kubectl: Kubectl, tmp_path: Path) -> None:
    env = {**os.environ, "KUBECONFIG": str(tmp_path / "kubeconfig-tls")}  # the fixture's
    cmd = [
        "kubectl",
        f"--cache-dir={tmp_path / 'watch-cache'}",
        "--context",
        "member-a",
        "get",
        "ns",
        "-w",
        "--request-timeout=3s",
    ]
    with subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True) as proc:
        guard = threading.Timer(20, proc.kill)  # never hang the suite on a stuck kubectl
        guard.start()
        assert proc.stdout is not None
        first = proc.stdout.readline()  # the header: the initial list has arrived
        assert first.split()[:2] == ["NAME", "STATUS"]
        kubectl("member-a", "create", "ns", "watched")
        kubectl("member-a", "delete", "ns", "scratch", "--wait=false")
        out, _ = proc.communicate(timeout=10)
        guard.cancel()
    assert proc.returncode == 0
    seen = [line.split()[:2] for line in out.splitlines()]
    assert ["watched", "Active"] in seen
    assert ["scratch", "Terminating"] in seen


def test_apply_creates_then_merges_three_ways(kubectl: Kubectl, tmp_path: Path) -> None:
    cm: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "applied", "namespace": "scratch", "labels": {"a": "1", "b": "2"}},
        "data": {"k": "v1"},
    }
    path = tmp_path / "cm.yaml"
    path.write_text(yaml.safe_dump(cm))
    assert "created" in kubectl("member-a", "apply", "-f", str(path)).stdout
    kubectl("member-a", "label", "cm", "applied", "-n", "scratch", "by-hand=yes")
    cm["metadata"]["labels"] = {"a": "1"}
    cm["data"] = {"k": "v2"}
    path.write_text(yaml.safe_dump(cm))
    assert "configured" in kubectl("member-a", "apply", "-f", str(path)).stdout
    live = get_json(kubectl, "member-a", "cm", "applied", "-n", "scratch")
    assert live["data"] == {"k": "v2"}
    # b was in the last applied configuration and is gone; a hand-made label stays
    assert live["metadata"]["labels"] == {"a": "1", "by-hand": "yes"}
    assert "kubectl.kubernetes.io/last-applied-configuration" in live["metadata"]["annotations"]
    assert "unchanged" in kubectl("member-a", "apply", "-f", str(path)).stdout

    wt: dict[str, Any] = {
        "apiVersion": "tenant.kubesphere.io/v1alpha2",
        "kind": "WorkspaceTemplate",
        "metadata": {"name": "applied-ws"},
        "spec": {
            "template": {"spec": {"manager": "admin"}},
            "placement": {"clusters": [{"name": "member-b"}]},
        },
    }
    path = tmp_path / "wt.yaml"
    path.write_text(yaml.safe_dump(wt))
    kubectl("host-b", "apply", "-f", str(path))
    wt["spec"]["placement"] = {"clusters": []}
    path.write_text(yaml.safe_dump(wt))
    assert "configured" in kubectl("host-b", "apply", "-f", str(path)).stdout
    live = get_json(kubectl, "host-b", "workspacetemplate", "applied-ws")
    assert live["spec"]["placement"] == {"clusters": []}


def test_generator_commands_send_protobuf_that_the_server_reads(kubectl: Kubectl) -> None:
    kubectl("member-a", "create", "namespace", "made-by-kubectl")
    kubectl("member-a", "create", "cm", "c", "-n", "made-by-kubectl", "--from-literal=a=b")
    kubectl(
        "member-a",
        "create",
        "secret",
        "generic",
        "s",
        "-n",
        "made-by-kubectl",
        "--from-literal=x=y",
    )
    kubectl("member-a", "create", "sa", "robot", "-n", "made-by-kubectl")
    ns = get_json(kubectl, "member-a", "ns", "made-by-kubectl")
    assert ns["status"]["phase"] == "Active" and ns["metadata"]["uid"]
    assert get_json(kubectl, "member-a", "cm", "c", "-n", "made-by-kubectl")["data"] == {"a": "b"}
    secret = get_json(kubectl, "member-a", "secret", "s", "-n", "made-by-kubectl")
    assert secret["data"] == {"x": "eQ=="} and secret["type"] == "Opaque"
    assert get_json(kubectl, "member-a", "sa", "robot", "-n", "made-by-kubectl")["metadata"][
        "namespace"
    ] == ("made-by-kubectl")
    dup = kubectl("member-a", "create", "namespace", "made-by-kubectl", check=False)
    assert dup.returncode == 1 and 'namespaces "made-by-kubectl" already exists' in dup.stderr
