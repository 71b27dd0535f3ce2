"""Account sync: a host pushes its Users and WorkspaceRoleBindings to every joined member.

Copies carry `kubefed.io/managed=true`. When a member moves to another host, the old host's
copies stay behind on it — as in KubeSphere 3.x, where nothing cleans them up.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from k8s.sim.controllers.base import MANAGED, delete_if_present, ensure, is_host, joined_members
from k8s.sim.resources import CLUSTERS, KUBEFEDCLUSTERS, USERS, WORKSPACEROLEBINDINGS, ResourceType
from k8s.sim.store import meta

if TYPE_CHECKING:
    from k8s.sim.world import SimCluster, World

Obj = dict[str, Any]
SYNCED = (USERS, WORKSPACEROLEBINDINGS)


class AccountSync:
    watches = frozenset({USERS.key, WORKSPACEROLEBINDINGS.key, CLUSTERS.key, KUBEFEDCLUSTERS.key})

    def __init__(self) -> None:
        self._pushed: dict[tuple[str, str, str], set[str]] = {}  # (host, rkey, name) → members

    def handle(
        self, world: World, cluster: SimCluster, rkey: str, namespace: str, name: str
    ) -> None:
        if not is_host(cluster):
            return
        if rkey in (CLUSTERS.key, KUBEFEDCLUSTERS.key):
            for rt in SYNCED:
                for obj in list(cluster.store.iter(rt)):
                    world.enqueue(cluster.name, rt.key, "", meta(obj)["name"])
            return
        rt = USERS if rkey == USERS.key else WORKSPACEROLEBINDINGS
        self._sync(world, cluster, rt, name)

    def _sync(self, world: World, host: SimCluster, rt: ResourceType, name: str) -> None:
        obj = host.store.peek(rt, "", name)
        members = {n: c for n, c in joined_members(world, host).items() if c is not host}
        key = (host.name, rt.key, name)
        pushed = self._pushed.setdefault(key, set())
        if obj is None or meta(obj).get("deletionTimestamp"):
            for mname in pushed:
                if mname in members:
                    delete_if_present(members[mname], rt, "", name)
            self._pushed.pop(key, None)
            return
        if (meta(obj).get("labels") or {}).get(MANAGED) == "true":
            return  # a copy pushed here by some other host
        if (meta(obj).get("labels") or {}).get(MANAGED) != "false":
            new = copy.deepcopy(obj)
            new["metadata"].setdefault("labels", {})[MANAGED] = "false"
            host.store.update(rt, "", name, new)
            obj = new
        body = {k: copy.deepcopy(v) for k, v in obj.items() if k not in ("metadata", "status")}
        labels = {**(meta(obj).get("labels") or {}), MANAGED: "true"}
        body["metadata"] = {
            "name": name,
            "labels": labels,
            "annotations": dict(meta(obj).get("annotations") or {}),
        }
        for mname, member in members.items():
            ensure(member, rt, "", body)
            pushed.add(mname)
