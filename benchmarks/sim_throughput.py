"""How fast the simulated API server answers the requests ksmc-bot makes most: listing every
namespace of a large cluster and patching objects one after another.

Run with `python -m benchmarks.sim_throughput [--namespaces N] [--patches N]`. It starts a
fresh simulated cluster on 127.0.0.1, creates the namespaces through the official client,
then times full lists through the official client and through `kubectl get ns -o json` (if
kubectl is on PATH), and sequential JSON merge patches. Results are printed, one per line.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from kubernetes import client, config
from kubernetes.client import V1Namespace, V1ObjectMeta

_TESTS = Path(__file__).resolve().parents[1] / "tests" / "support"
if str(_TESTS) not in sys.path:  # kubectl's kubeconfig for the simulator lives with the tests
    sys.path.insert(0, str(_TESTS))

from kubectl import tls_kubeconfig  # noqa: E402

from k8s.sim import loader  # noqa: E402

CLUSTER = "bench"
MERGE = "application/merge-patch+json"


def _timed(action: Callable[[], object], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return times


def _report(label: str, seconds: float, unit: str = "") -> None:
    print(f"{label:<44} {seconds:>9.3f} s{unit}", flush=True)


def run(namespaces: int, patches: int, list_runs: int) -> dict[str, float]:
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="ksmc-bench-") as tmp:
        kubeconfig = Path(tmp) / "kubeconfig"
        world = loader.start_fresh([CLUSTER], kubeconfig=kubeconfig)
        api: client.ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=str(kubeconfig), context=CLUSTER
        )  # (the kubernetes package leaves it unannotated)
        core = client.CoreV1Api(api)
        try:
            bodies = [
                V1Namespace(metadata=V1ObjectMeta(name=f"ns-{i:05d}", labels={"n": "x"}))
                for i in range(namespaces)
            ]
            started = time.perf_counter()
            for body in bodies:
                core.create_namespace(body)
            took = time.perf_counter() - started
            results["create_per_s"] = namespaces / took
            _report(f"create {namespaces} namespaces", took, f"  ({namespaces / took:,.0f}/s)")

            total = len(core.list_namespace().items)
            assert total >= namespaces, total
            times = _timed(core.list_namespace, list_runs)
            results["list_client_s"] = statistics.median(times)
            _report(f"list {total} namespaces, official client", results["list_client_s"])

            # _preload_content=False returns the urllib3 response, not the annotated model
            raw = _timed(
                lambda: core.list_namespace(_preload_content=False).read(),  # type: ignore[attr-defined]
                list_runs,
            )
            results["list_raw_s"] = statistics.median(raw)
            _report(f"list {total} namespaces, raw JSON (no models)", results["list_raw_s"])

            if shutil.which("kubectl"):
                tls = tls_kubeconfig(kubeconfig, Path(tmp) / "kubeconfig-tls")
                env = {**os.environ, "KUBECONFIG": str(tls)}
                cmd = ["kubectl", f"--cache-dir={tmp}/cache", "get", "ns", "-o", "json"]
                subprocess.run(cmd, env=env, check=True, capture_output=True)  # warm the cache
                kubectl_times = _timed(
                    lambda: subprocess.run(cmd, env=env, check=True, capture_output=True),
                    list_runs,
                )
                results["list_kubectl_s"] = statistics.median(kubectl_times)
                _report(f"kubectl get ns -o json ({total})", results["list_kubectl_s"])
            else:
                print("kubectl not on PATH: skipped kubectl get ns -o json", flush=True)

            started = time.perf_counter()
            for i in range(patches):
                core.patch_namespace(
                    f"ns-{i % namespaces:05d}",
                    {"metadata": {"labels": {"patched": str(i)}}},
                    _content_type=MERGE,
                )
            took = time.perf_counter() - started
            results["patch_per_s"] = patches / took
            _report(f"{patches} sequential merge patches", took, f"  ({patches / took:,.0f}/s)")
        finally:
            api.close()  # type: ignore[no-untyped-call]
            world.stop()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--namespaces", type=int, default=5000)
    parser.add_argument("--patches", type=int, default=1000)
    parser.add_argument("--list-runs", type=int, default=5)
    args = parser.parse_args(argv)
    run(args.namespaces, args.patches, args.list_runs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
