"""`ksmc-bot sim`: run simulated KubeSphere clusters on 127.0.0.1 until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from k8s.sim import loader

TRY = """\
Try it with kubectl:
  export KUBECONFIG={kubeconfig}
  kubectl config get-contexts
  kubectl --context member-a get ns -L kubesphere.io/workspace
  kubectl --context host-a get clusters.cluster.kubesphere.io
  kubectl --context host-a get workspacetemplates
  kubectl --context member-a get workspaces
Control API (faults, down/up, request log): curl {url}/_sim/info
Stop with Ctrl-C."""


def add_parser(sub: Any) -> None:
    p = sub.add_parser("sim", help="run simulated KubeSphere clusters", description=__doc__)
    group = p.add_mutually_exclusive_group()
    group.add_argument(
        "--world",
        default=None,
        help=f"a world: {', '.join(loader.world_names())} or a YAML file (default: demo)",
    )
    group.add_argument(
        "--clusters",
        default=None,
        help="comma-separated names of fresh, empty clusters instead of a world",
    )
    p.add_argument(
        "--kubeconfig-out",
        type=Path,
        default=Path(".tmp/kubeconfig"),
        help="where to write the kubeconfig (one context per cluster)",
    )
    p.add_argument(
        "--join-delay",
        type=float,
        default=None,
        help="seconds a host takes to join a member (default: the world's)",
    )
    p.add_argument(
        "--controller-delay",
        type=float,
        default=None,
        metavar="SECONDS",
        help="fixed lag before every controller and garbage-collection reaction, as informers "
        "and work queues add on a real cluster (default: the world's controllerDelay, else 0)",
    )
    p.add_argument(
        "--installer-delay",
        type=float,
        default=None,
        metavar="SECONDS",
        help="how long a ks-installer re-run after a ClusterConfiguration change takes "
        "(default: the world's installerDelay, else 60 x the controller delay)",
    )
    p.add_argument("--quiet", action="store_true", help="print only the READY line")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    for flag in ("controller_delay", "installer_delay"):
        if (getattr(args, flag, None) or 0) < 0:
            print(f"ksmc-bot sim: --{flag.replace('_', '-')} must not be negative", file=sys.stderr)
            return 2
    try:
        if args.clusters:
            names = [n.strip() for n in args.clusters.split(",") if n.strip()]
            world = loader.start_fresh(
                names,
                args.kubeconfig_out,
                args.join_delay if args.join_delay is not None else 0.3,
                args.controller_delay or 0.0,
                args.installer_delay,
            )
        else:
            world = loader.start(
                args.world or "demo",
                args.kubeconfig_out,
                args.join_delay,
                args.controller_delay,
                args.installer_delay,
            )
    except loader.WorldError as e:
        print(f"ksmc-bot sim: {e}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    path = args.kubeconfig_out.resolve()
    print(f"READY {path}", flush=True)
    if not args.quiet:
        for c in world.clusters.values():
            print(f"  {c.name:<10} {c.url}", flush=True)
        first = next(iter(world.clusters.values()))
        print(TRY.format(kubeconfig=path, url=first.url), flush=True)
    stop.wait()
    world.stop()
    return 0
