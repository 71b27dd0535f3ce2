"""Simulated time: how long controllers, garbage collection and ks-installer take to react.

On a real cluster nothing happens inside the API call that triggers it: informers deliver the
event, a work queue hands it to a controller, kube-controller-manager's garbage collector and
namespace controller catch up later, and ks-installer re-runs its Ansible playbooks for minutes.
Code that reads its own write back, or waits for a cascade, must therefore poll. The world's
`controller_delay` reproduces that lag so the bot's waits are exercised:

- every controller reaction is scheduled `controller_delay` seconds after the change that
  triggered it (a fixed lag, not jittered, so tests stay deterministic; chained reactions add up,
  as they do behind real informers);
- every garbage-collection and namespace-termination step (k8s/sim/store.py) runs the same lag
  after the write or deletion that made it due;
- a ks-installer re-run after a ClusterConfiguration spec change takes `installer_delay` seconds
  (default `INSTALLER_SCALE` x `controller_delay`: a controller reacts in well under a second
  where the installer's playbooks take several minutes, about two orders of magnitude apart).

`/_sim/settle` waits for all of it, because each pending step is a timer in the world's queue.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from k8s.sim.world import SimCluster, World

GC_KEY = "sim/garbage-collector"  # work items that run a store's deferred GC step
INSTALLER_SCALE = 60.0


def attach_gc(world: World, cluster: SimCluster) -> None:
    """Let the cluster's store defer GC steps onto the world's controller loop."""
    name = cluster.name

    def schedule(token: str, delay: float) -> None:
        world.enqueue(name, GC_KEY, "", token, delay=delay)

    cluster.store.scheduler = schedule
    cluster.store.gc_delay = lambda: float(world.controller_delay)


def installer_delay(world: World) -> float:
    explicit = getattr(world, "installer_delay", None)
    if explicit is not None:
        return float(explicit)
    return INSTALLER_SCALE * float(getattr(world, "controller_delay", 0.0))


class GarbageCollector:
    """Runs the deferred steps of kube-controller-manager's garbage collector and namespace
    controller when their lag has passed (an ApiError leaves the step queued for a retry)."""

    watches = frozenset({GC_KEY})

    def handle(
        self, world: World, cluster: SimCluster, rkey: str, namespace: str, name: str
    ) -> None:
        cluster.store.run_deferred(name)
