"""How the migration engine compares with an operator doing the same by hand with kubectl.

Run with `python -m benchmarks.engine [--namespaces 5000] [--workspaces 200] [--keep 500]`.
It builds the demo world with `member-a` holding N namespaces spread over W workspaces of
host-a (objects go straight into the simulator's store, then its controllers bind them), and
measures, in the same run and on the same clusters:

1. preflight wall time on a fleet of six clusters (the demo world plus host-c and member-c)
   against the kubectl read floor: one `kubectl get` per cluster of every kind the consequence
   model needs (namespaces, workspaces and templates, Cluster and KubeFedCluster objects, the
   federated workspaces and namespaces, users, workspace role bindings, application releases),
   one cluster after another, as an operator would read them (goal: preflight at most 1.5×);
2. executing a plan that keeps K namespaces (whole workspaces, so nothing is deleted) against the
   documentation's manual procedure for the same namespaces on an identical second world: per
   namespace `kubectl label` + `kubectl patch`, the workspaces' placement and deletion, the
   unbind, the import and its wait, the new workspaces, and per namespace the new label
   (goal: the engine at least 5× faster).

Both end states are checked to be the migrated one before any number is printed.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

_TESTS = Path(__file__).resolve().parents[1] / "tests" / "support"
if str(_TESTS) not in sys.path:  # kubectl's kubeconfig for the simulator lives with the tests
    sys.path.insert(0, str(_TESTS))

from kubectl import tls_kubeconfig  # noqa: E402

from k8s import execution, migration  # noqa: E402
from k8s.executor import MemorySink  # noqa: E402
from k8s.parse import LABEL_WORKSPACE  # noqa: E402
from k8s.registry import ClusterRegistry  # noqa: E402
from k8s.sim import loader  # noqa: E402
from k8s.sim.resources import CLUSTERS, NAMESPACES, WORKSPACES, WORKSPACETEMPLATES  # noqa: E402
from k8s.sim.world import World  # noqa: E402
from k8s.spec import MigrationSpec  # noqa: E402

MEMBER, OLD_HOST, NEW_HOST = "member-a", "host-a", "host-b"

JOIN_DELAY = 0.05
READ_GOAL = 1.5


def workspace_name(i: int) -> str:
    return f"bench-{i:03d}"


def namespace_name(i: int) -> str:
    return f"proj-{i:05d}"


def six_clusters(directory: Path) -> Path:
    """The demo world plus a third host and its member: six clusters, as the goal says."""
    data = loader.read_world("demo")
    for name, role in (("host-c", "host"), ("member-c", "member")):
        cluster: dict[str, Any] = {
            "name": name,
            "kubernetesVersion": "v1.26.7",
            "nodes": 2,
            "kubesphere": {
                "version": "v3.4.1",
                "role": role,
                "jwtSecret": "gfIwilcc0WjNGKJ5DLeksf2JKfcLgTZU",
                "components": {"logging": True},
            },
        }
        if role == "host":
            cluster["kubesphere"]["hostClusterName"] = name
        data["clusters"].append(cluster)
    data["joins"].append({"host": "host-c", "member": "member-c", "labels": {}})
    path = directory / "six-clusters.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


READ_KINDS = ",".join(
    (
        "namespaces",
        "workspaces.tenant.kubesphere.io",
        "workspacetemplates.tenant.kubesphere.io",
        "clusters.cluster.kubesphere.io",
        "kubefedclusters.core.kubefed.io",
        "federatedworkspaces.types.kubefed.io",
        "federatednamespaces.types.kubefed.io",
        "users.iam.kubesphere.io",
        "workspacerolebindings.iam.kubesphere.io",
        "helmreleases.application.kubesphere.io",
    )
)


def build(kubeconfig: Path, namespaces: int, workspaces: int) -> World:
    """Six clusters, with W host-a workspaces placed on member-a holding N projects."""
    kubeconfig.parent.mkdir(parents=True, exist_ok=True)
    world = loader.start(
        str(six_clusters(kubeconfig.parent)), kubeconfig=kubeconfig, join_delay=JOIN_DELAY
    )
    host, member = world.clusters[OLD_HOST], world.clusters[MEMBER]
    with world.lock:
        for w in range(workspaces):
            host.store.create(
                WORKSPACETEMPLATES,
                "",
                {
                    "apiVersion": WORKSPACETEMPLATES.api_version,
                    "kind": "WorkspaceTemplate",
                    "metadata": {"name": workspace_name(w)},
                    "spec": {
                        "template": {"spec": {"manager": "admin"}},
                        "placement": {"clusters": [{"name": MEMBER}]},
                    },
                },
            )
    _settle(world)
    with world.lock:
        for n in range(namespaces):
            labels = {LABEL_WORKSPACE: workspace_name(n * workspaces // namespaces)}
            member.store.create(
                NAMESPACES, "", {"metadata": {"name": namespace_name(n), "labels": labels}}
            )
    _settle(world)
    return world


def _settle(world: World) -> None:
    if not world.settle(600):
        raise RuntimeError("the simulated controllers did not settle")


def kept(namespaces: int, workspaces: int, keep: int) -> tuple[list[str], dict[str, str]]:
    """The first namespaces up to `keep`, rounded up to whole workspaces: names → workspace."""
    out: dict[str, str] = {}
    for n in range(namespaces):
        ws = workspace_name(n * workspaces // namespaces)
        if len(out) >= keep and ws not in out.values():
            break
        out[namespace_name(n)] = ws
    return sorted(set(out.values())), out


def show(label: str, seconds: float) -> None:
    print(f"{label:<66} {seconds:>8.3f} s", flush=True)


def timed(action: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


class Kubectl:
    def __init__(self, kubeconfig: Path, cache: Path) -> None:
        binary = shutil.which("kubectl")
        if binary is None:
            raise SystemExit("kubectl is not on PATH: the baselines need it")
        tls = tls_kubeconfig(kubeconfig, cache.parent / f"{kubeconfig.name}-tls")
        self.base = [binary, "--kubeconfig", str(tls), "--cache-dir", str(cache)]
        self.calls = 0

    def __call__(self, context: str, *args: str, stdin: str | None = None) -> str:
        self.calls += 1
        done = subprocess.run(
            [*self.base, "--context", context, *args],
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "KUBECTL_INTERACTIVE_DELETE": "false"},
        )
        if done.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout


# ---- 1. preflight vs reading the same with kubectl ---------------------------------------------


def bench_preflight(world: World, kubeconfig: Path, spec: MigrationSpec, runs: int) -> float:
    kubectl = Kubectl(kubeconfig, kubeconfig.parent / "cache-read")
    clusters = sorted(world.clusters)
    with ClusterRegistry.from_kubeconfig(kubeconfig) as registry:
        report = migration.preflight(registry, spec)  # warms connections, like a running bot
        assert report.plan is not None and not report.blocked, [
            r.message for r in report.results if r.severity == "blocker"
        ]

        def read_by_hand() -> None:
            for name in clusters:
                kubectl(name, "get", READ_KINDS, "-A", "-o", "json")

        read_by_hand()  # warms kubectl's discovery cache
        engine = timed(lambda: migration.preflight(registry, spec), runs)
        by_hand = timed(read_by_hand, runs)
    total = sum(1 for _ in world.clusters[MEMBER].store.iter(NAMESPACES))
    show(f"preflight ({len(clusters)} clusters, {total} namespaces on {MEMBER})", engine)
    show("kubectl read floor: one get of every kind, each cluster in turn", by_hand)
    ratio = engine / by_hand
    verdict = "met" if ratio <= READ_GOAL else "MISSED"
    print(f"ratio preflight / kubectl: {ratio:.2f}×  (goal ≤ {READ_GOAL}×: {verdict})")
    return ratio


# ---- 2. executing a plan vs the documented kubectl procedure -----------------------------------


def run_engine(kubeconfig: Path, spec: MigrationSpec) -> float:
    with ClusterRegistry.from_kubeconfig(kubeconfig) as registry:
        report = migration.preflight(registry, spec)
        assert report.plan is not None and not report.blocked
        sink = MemorySink()
        started = time.perf_counter()
        outcome = execution.execute(
            registry,
            report.plan,
            sink,
        )
        took = time.perf_counter() - started
    if not outcome.succeeded:
        raise RuntimeError(f"the engine failed: {outcome.message}")
    return took


def run_by_hand(
    kubeconfig: Path, workspaces: list[str], bindings: dict[str, str]
) -> tuple[float, int]:
    """The documentation's procedure, one kubectl command at a time."""
    kubectl = Kubectl(kubeconfig, kubeconfig.parent / "cache-manual")
    for context in (MEMBER, OLD_HOST, NEW_HOST):
        kubectl(context, "get", "ns", "default", "-o", "name")  # warm the discovery cache
    kubectl.calls = 0
    member_config = base64.b64encode(
        migration.standalone_kubeconfig(str(kubeconfig), MEMBER)
    ).decode()
    cluster = {
        "apiVersion": CLUSTERS.api_version,
        "kind": "Cluster",
        "metadata": {"name": MEMBER},
        "spec": {
            "joinFederation": True,
            "provider": "kubesphere",
            "connection": {"type": "direct", "kubeconfig": member_config},
        },
    }
    started = time.perf_counter()
    # 1. unbind every kept namespace from its workspace
    for ns in sorted(bindings):
        kubectl(MEMBER, "label", "ns", ns, f"{LABEL_WORKSPACE}-")
        kubectl(
            MEMBER, "patch", "ns", ns, "--type=merge", "-p", '{"metadata":{"ownerReferences":[]}}'
        )
    # 2. take the member out of the old host's workspaces, delete them on the member
    for ws in workspaces:
        kubectl(
            OLD_HOST, "patch", "workspacetemplate", ws, "--type=merge",
            "-p", '{"spec":{"placement":{"clusters":[]}}}',
        )  # fmt: skip
        kubectl(MEMBER, "delete", "workspace", ws, "--ignore-not-found", "--wait=true")
    # 3. unbind from the old host, import into the new one under the same name
    kubectl(OLD_HOST, "delete", "clusters.cluster.kubesphere.io", MEMBER, "--wait=true")
    kubectl(NEW_HOST, "create", "-f", "-", stdin=json.dumps(cluster))
    kubectl(
        NEW_HOST, "wait", "--for=condition=Ready", f"clusters.cluster.kubesphere.io/{MEMBER}",
        "--timeout=120s",
    )  # fmt: skip
    # 4. the workspaces on the new host, then the namespaces into them
    for ws in workspaces:
        template = {
            "apiVersion": WORKSPACETEMPLATES.api_version,
            "kind": "WorkspaceTemplate",
            "metadata": {"name": ws},
            "spec": {
                "template": {"spec": {"manager": "admin"}},
                "placement": {"clusters": [{"name": MEMBER}]},
            },
        }
        kubectl(NEW_HOST, "create", "-f", "-", stdin=yaml.safe_dump(template))
        kubectl(
            MEMBER, "wait", "--for=create", f"workspaces.tenant.kubesphere.io/{ws}", "--timeout=60s"
        )
    for ns, ws in sorted(bindings.items()):
        kubectl(MEMBER, "label", "ns", ns, f"{LABEL_WORKSPACE}={ws}", "--overwrite")
    return time.perf_counter() - started, kubectl.calls


def check_migrated(world: World, bindings: dict[str, str], label: str) -> None:
    """Both runs must end in the migrated state, or their times mean nothing."""
    _settle(world)
    member = world.clusters[MEMBER]
    with world.lock:
        joined = world.clusters[NEW_HOST].store.peek(CLUSTERS, "", MEMBER)
        assert joined is not None and (joined.get("status") or {}).get("uid"), label
        assert world.clusters[OLD_HOST].store.peek(CLUSTERS, "", MEMBER) is None, label
        for ns, ws in bindings.items():
            obj: Any = member.store.peek(NAMESPACES, "", ns)
            workspace: Any = member.store.peek(WORKSPACES, "", ws)
            assert obj is not None and workspace is not None, f"{label}: {ns} or {ws} missing"
            assert obj["metadata"]["labels"][LABEL_WORKSPACE] == ws, f"{label}: {ns} not labelled"
            refs = obj["metadata"].get("ownerReferences") or []
            assert [r["uid"] for r in refs] == [workspace["metadata"]["uid"]], f"{label}: {ns}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--namespaces", type=int, default=5000)
    parser.add_argument("--workspaces", type=int, default=200)
    parser.add_argument("--keep", type=int, default=500)
    parser.add_argument("--runs", type=int, default=5, help="preflight timings (median)")
    parser.add_argument("--preflight-only", action="store_true", help="skip the execution part")
    args = parser.parse_args(argv)
    workspaces, bindings = kept(args.namespaces, args.workspaces, args.keep)
    spec = MigrationSpec(MEMBER, NEW_HOST, keep=tuple(sorted(bindings)))
    print(
        f"member {MEMBER}: {args.namespaces} namespaces in {args.workspaces} workspaces; "
        f"keeping {len(bindings)} namespaces of {len(workspaces)} workspaces",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="ksmc-bench-engine-") as tmp:
        one, two = Path(tmp) / "one" / "kubeconfig", Path(tmp) / "two" / "kubeconfig"
        started = time.perf_counter()
        first = build(one, args.namespaces, args.workspaces)
        if args.preflight_only:
            try:
                return 0 if bench_preflight(first, one, spec, args.runs) <= READ_GOAL else 1
            finally:
                first.stop()
        second = build(two, args.namespaces, args.workspaces)
        print(f"(built two worlds in {time.perf_counter() - started:.1f} s)", flush=True)
        try:
            read_ratio = bench_preflight(first, one, spec, args.runs)

            engine = run_engine(one, spec)
            check_migrated(first, bindings, "engine")
            by_hand, calls = run_by_hand(two, workspaces, bindings)
            check_migrated(second, bindings, "kubectl")
            show(f"engine: executing the approved plan ({len(bindings)} namespaces)", engine)
            show(f"documented kubectl procedure ({calls} commands)", by_hand)
            speedup = by_hand / engine
            verdict = "met" if speedup >= 5 else "MISSED"
            print(f"ratio kubectl / engine: {speedup:.1f}×  (goal ≥ 5×: {verdict})")
        finally:
            first.stop()
            second.stop()
    return 0 if read_ratio <= READ_GOAL and speedup >= 5 else 1


if __name__ == "__main__":
    raise SystemExit(main())
