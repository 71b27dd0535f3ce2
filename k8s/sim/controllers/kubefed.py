"""KubeFed's sync controller, one instance per FederatedTypeConfig KubeSphere 3.4 installs.

ks-installer v3.4.1 deploys kubesphere/kubefed v0.8.1, whose `pkg/controller/**` equals
kubernetes-sigs/kubefed master (16fb853); citations below are to that tree. Why each rule:

- Placement (`util/placement.go` selectedClusterNames/ComputePlacement): a non-nil `clusters`
  list wins over `clusterSelector` (`[]` selects nothing); else the selector is matched against
  the *KubeFedCluster* labels (nil selects nothing, `{}` all); only existing KubeFedClusters count.
- Sync (`sync/controller.go` syncToClusters): member objects are seen only through informers
  filtered by `kubefed.io/managed=true` (`util/resourceinformer.go`), on ready clusters only. A
  selected cluster gets Create, or Update of its managed copy; an unmanaged object of the same
  name is adopted (`dispatch/managed.go` Create → AlreadyExists → Update, since KubeSphere's
  KubeFedConfig enables adoption) unless it is labelled `kubefed.io/managed=false`
  (status ManagedLabelFalse, untouched). Every ready cluster *not* selected that holds a managed
  copy has it deleted, whatever `status.clusters` said — except the host's own namespace, which
  only loses the label (`sync/resource.go` IsNamespaceInHostCluster).
- Update (`dispatch/retain.go`, `sync/resource.go` ObjectForCluster/ApplyOverrides): labels and
  ownerReferences come from the template (so ownerRefs on managed copies are dropped), the
  member's annotations and finalizers are kept; it is written only when the template changed or
  the copy's version (generation, else resourceVersion) moved since KubeFed last wrote it
  (`util/propagatedversion.go` ObjectNeedsUpdate).
- Orphans (`sync/accessor.go` FederatedResource → possibleOrphan, controller.go
  removeManagedLabel): an event for a managed object whose federated object does not exist
  removes the managed label on every ready cluster; nothing is deleted.
- Deletion (controller.go ensureDeletion): with `kubefed.io/orphan: "true"` the finalizer goes
  first and copies are un-labelled; otherwise every managed copy is deleted with the options in
  `kubefed.io/deleteoption` (`util/deletionannotation.go`; `{"propagationPolicy":"Orphan"}` still
  deletes the copy, orphaning its dependents), and `kubefed.io/sync-controller` is removed only
  once no copy remains. In v0.8.1 any KubeFedCluster that is not ready blocks this.
- Timing (`sync/controller.go` newKubeFedSyncController, `util/worker.go` EnqueueForRetry,
  `util/delaying_deliverer.go` DeliverAt): a member informer's event re-queues the federated
  object after the worker's RetryDelay, and a key already waiting keeps its earlier time. So two
  hosts that both manage one member take turns instead of spinning. Upstream's default is 10 s;
  the simulator waits the 50 ms upstream's own integration tests set (controller.go
  minimizeLatency), because every world the tests build waits out these delays.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from k8s.sim import errors
from k8s.sim.controllers.base import FEDERATION_NS, MANAGED, is_host, joined_members, replace
from k8s.sim.controllers.cluster import HOST_LABEL
from k8s.sim.patch import apply_json_patch
from k8s.sim.resources import (
    CLUSTERS,
    FEDERATEDGLOBALROLEBINDINGS,
    FEDERATEDGLOBALROLES,
    FEDERATEDGROUPBINDINGS,
    FEDERATEDGROUPS,
    FEDERATEDNAMESPACES,
    FEDERATEDUSERS,
    FEDERATEDWORKSPACEROLEBINDINGS,
    FEDERATEDWORKSPACEROLES,
    FEDERATEDWORKSPACES,
    GLOBALROLEBINDINGS,
    GLOBALROLES,
    GROUPBINDINGS,
    GROUPS,
    KUBEFEDCLUSTERS,
    NAMESPACES,
    USERS,
    WORKSPACEROLEBINDINGS,
    WORKSPACEROLES,
    WORKSPACES,
    ResourceType,
)
from k8s.sim.selectors import label_selector_from_match
from k8s.sim.store import meta

if TYPE_CHECKING:
    from k8s.sim.world import Controller, SimCluster, World

Obj = dict[str, Any]
FINALIZER = "kubefed.io/sync-controller"
ORPHAN_ANNOTATION = "kubefed.io/orphan"
DELETE_OPTION = "kubefed.io/deleteoption"
# accessor.go isSystemNamespace: never federated, never un-labelled
# util/worker.go RetryDelay: 10 s upstream, 50 ms in upstream's tests (minimizeLatency)
MEMBER_EVENT_RETRY_DELAY = 0.05
SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "default", FEDERATION_NS})
# fields of a live object the API server owns; KubeFed sends them back unchanged
SERVER_FIELDS = ("uid", "resourceVersion", "creationTimestamp", "generation", "deletionTimestamp")


@dataclass(frozen=True)
class TypeConfig:
    """A FederatedTypeConfig (ks-installer roles/ks-multicluster/files/kubefed/federatedcrds)."""

    federated: ResourceType
    target: ResourceType


TYPE_CONFIGS = (
    TypeConfig(FEDERATEDWORKSPACES, WORKSPACES),
    TypeConfig(FEDERATEDNAMESPACES, NAMESPACES),
    TypeConfig(FEDERATEDUSERS, USERS),
    TypeConfig(FEDERATEDGLOBALROLES, GLOBALROLES),
    TypeConfig(FEDERATEDGLOBALROLEBINDINGS, GLOBALROLEBINDINGS),
    TypeConfig(FEDERATEDWORKSPACEROLES, WORKSPACEROLES),
    TypeConfig(FEDERATEDWORKSPACEROLEBINDINGS, WORKSPACEROLEBINDINGS),
    TypeConfig(FEDERATEDGROUPS, GROUPS),
    TypeConfig(FEDERATEDGROUPBINDINGS, GROUPBINDINGS),
)


def sync_controllers() -> list[Controller]:
    return [KubeFedSync(tc) for tc in TYPE_CONFIGS]


def is_managed(obj: Obj | None) -> bool:
    return obj is not None and (meta(obj).get("labels") or {}).get(MANAGED) == "true"


def kubefed_clusters(host: SimCluster) -> dict[str, dict[str, str]]:
    """Every KubeFedCluster of the host, ready or not, with its labels (placement input). The
    host's own Cluster is joined too in KubeSphere (reconcileHostCluster); the simulator keeps
    no KubeFedCluster for it, so its Cluster's labels stand in, as join copies them."""
    out: dict[str, dict[str, str]] = {}
    for kfc in host.store.iter(KUBEFEDCLUSTERS, FEDERATION_NS):
        out[meta(kfc)["name"]] = dict(meta(kfc).get("labels") or {})
    for cl in host.store.iter(CLUSTERS):
        labels = meta(cl).get("labels") or {}
        if HOST_LABEL in labels:
            out[meta(cl)["name"]] = dict(labels)
    return out


def selected_clusters(fed: Obj, clusters: dict[str, dict[str, str]]) -> set[str]:
    """placement.go ComputePlacement: named clusters if `clusters` is non-nil, else selector."""
    placement = (fed.get("spec") or {}).get("placement") or {}
    names = placement.get("clusters")
    if names is not None:
        wanted = {str(c.get("name")) for c in names}
    elif placement.get("clusterSelector") is None:
        wanted = set()  # LabelSelectorAsSelector(nil) = labels.Nothing()
    else:
        selector = label_selector_from_match(placement["clusterSelector"])
        wanted = {n for n, labels in clusters.items() if selector.matches(labels)}
    return wanted & set(clusters)


def _version(obj: Obj) -> str:
    """propagatedversion.go ObjectVersion."""
    gen = meta(obj).get("generation")
    return f"gen:{gen}" if gen else f"rv:{meta(obj).get('resourceVersion')}"


def _hash(value: Any) -> str:
    return hashlib.md5(json.dumps(value, sort_keys=True).encode()).hexdigest()


class KubeFedSync:
    """sync/controller.go KubeFedSyncController for one FederatedTypeConfig."""

    def __init__(self, tc: TypeConfig) -> None:
        self.tc = tc
        self.is_ns = tc.target is NAMESPACES
        self.retry_key = f"sim/kubefed-retry/{tc.federated.key}"
        self.watches = frozenset(
            {tc.federated.key, tc.target.key, KUBEFEDCLUSTERS.key, CLUSTERS.key, self.retry_key}
        )
        # (host, name) re-queued by a member event and not yet reconciled (DeliverAt keeps the
        # earlier delivery of a key that is already waiting)
        self._waiting: set[tuple[str, str]] = set()
        # the member informers' caches: (cluster, name) of objects seen labelled managed=true
        self._cache: set[tuple[str, str]] = set()
        # PropagatedVersion: (host, fed ns, name, cluster) → (template+overrides hash, version)
        self._versions: dict[tuple[str, str, str, str], tuple[str, str]] = {}

    # ---- events --------------------------------------------------------------------------

    def handle(
        self, world: World, cluster: SimCluster, rkey: str, namespace: str, name: str
    ) -> None:
        if rkey in (KUBEFEDCLUSTERS.key, CLUSTERS.key):
            if is_host(cluster):
                self._clusters_changed(world, cluster)
            return
        if rkey == self.retry_key:
            self._waiting.discard((cluster.name, name))
            self.reconcile(world, cluster, name, source_is_federated=False)
            return
        if rkey == self.tc.federated.key:
            if is_host(cluster):
                self.reconcile(world, cluster, name, source_is_federated=True)
            return
        self._target_event(world, cluster, name)

    def _target_event(self, world: World, cluster: SimCluster, name: str) -> None:
        """A member informer event (only managed objects pass its label filter), and for the
        namespace type also the host's own namespace informer, which has no filter."""
        obj = cluster.store.peek(self.tc.target, "", name)
        key = (cluster.name, name)
        seen = key in self._cache
        if is_managed(obj):
            self._cache.add(key)
        else:
            self._cache.discard(key)
        for host in world.clusters.values():
            if not is_host(host):
                continue
            own_ns = self.is_ns and host is cluster
            if (seen or is_managed(obj) or own_ns) and cluster in joined_members(
                world, host
            ).values():
                self._retry(world, host, name)

    def _retry(self, world: World, host: SimCluster, name: str) -> None:
        """EnqueueForRetry: the reconcile runs after RetryDelay, once for all events meanwhile."""
        if (host.name, name) in self._waiting:
            return
        self._waiting.add((host.name, name))
        world.enqueue(host.name, self.retry_key, "", name, delay=MEMBER_EVENT_RETRY_DELAY)

    def _clusters_changed(self, world: World, host: SimCluster) -> None:
        """ClusterAvailable/Unavailable → reconcileOnClusterChange (all federated objects), and a
        newly started member informer lists its managed objects (orphans among them)."""
        names = {meta(f)["name"] for f in host.store.iter(self.tc.federated)}
        for member in joined_members(world, host).values():
            for obj in member.store.iter(self.tc.target):
                if is_managed(obj):
                    self._cache.add((member.name, meta(obj)["name"]))
                    names.add(meta(obj)["name"])
        for name in sorted(names):
            self.reconcile(world, host, name, source_is_federated=False)

    # ---- reconcile -----------------------------------------------------------------------

    def reconcile(
        self, world: World, host: SimCluster, name: str, source_is_federated: bool
    ) -> None:
        if self.is_ns and name in SYSTEM_NAMESPACES:
            return
        # a FederatedNamespace lives in the namespace it federates (ns/ns)
        fed_ns = name if self.is_ns else ""
        fed = host.store.peek(self.tc.federated, fed_ns, name)
        if fed is None:
            # possibleOrphan, except when a FederatedNamespace's own event found it gone
            if not (self.is_ns and source_is_federated):
                self._remove_labels(world, host, name)
            return
        host_ns = None
        if self.is_ns:
            host_ns = host.store.peek(NAMESPACES, "", name)
            if host_ns is None:
                return  # accessor.go: containing namespace not cached yet
        if meta(fed).get("deletionTimestamp"):
            self._ensure_deletion(world, host, fed, host_ns)
            return
        if FINALIZER not in (meta(fed).get("finalizers") or []):
            new = copy.deepcopy(fed)
            new["metadata"].setdefault("finalizers", []).append(FINALIZER)
            fed = replace(host, self.tc.federated, fed, new)
        self._sync(world, host, fed, host_ns)

    def _sync(self, world: World, host: SimCluster, fed: Obj, host_ns: Obj | None) -> None:
        name = meta(fed)["name"]
        clusters = kubefed_clusters(host)
        ready = joined_members(world, host)
        selected = selected_clusters(fed, clusters)
        status: dict[str, str] = {}
        for cname in sorted(clusters):
            if cname not in ready:
                if cname in selected:
                    status[cname] = "ClusterNotReady"
                continue
            member = ready[cname]
            live = member.store.peek(self.tc.target, "", name)
            cached = live if is_managed(live) else None
            if cname not in selected:
                if cached is None:
                    continue
                if meta(cached).get("deletionTimestamp"):
                    status[cname] = "WaitingForRemoval"
                elif self._in_host(cached, host_ns):
                    self._unlabel(member, cached)  # never delete a host namespace
                else:
                    self._delete(member, name, {})
                    status[cname] = "WaitingForRemoval"
                continue
            if live is None:
                created = member.store.create(self.tc.target, "", self._desired(fed, cname, None))
                self._record(host, fed, cname, created)
                status[cname] = ""
            else:
                # Create → AlreadyExists → adopt through Update (adoptResources: Enabled)
                status[cname] = self._update(host, member, fed, cname, live)
        self._write_status(host, fed, status)

    def _update(self, host: SimCluster, member: SimCluster, fed: Obj, cname: str, live: Obj) -> str:
        if (meta(live).get("labels") or {}).get(MANAGED) == "false":
            return "ManagedLabelFalse"  # "Unable to manage the object which has label ..."
        desired = self._desired(fed, cname, live)
        key = (host.name, meta(fed).get("namespace", ""), meta(fed)["name"], cname)
        recorded = self._versions.get(key)
        current = (self._template_hash(fed), _version(live))
        same_meta = (meta(desired).get("labels") or {}) == (meta(live).get("labels") or {})
        if recorded == current and (current[1].startswith("rv:") or same_meta):
            return ""
        written = member.store.update(self.tc.target, "", meta(live)["name"], desired)
        self._record(host, fed, cname, written)
        return ""

    def _record(self, host: SimCluster, fed: Obj, cname: str, obj: Obj) -> None:
        key = (host.name, meta(fed).get("namespace", ""), meta(fed)["name"], cname)
        self._versions[key] = (self._template_hash(fed), _version(obj))
        self._cache.add((cname, meta(obj)["name"]))

    def _template_hash(self, fed: Obj) -> str:
        spec = fed.get("spec") or {}
        return _hash([spec.get("template"), spec.get("overrides")])

    def _desired(self, fed: Obj, cname: str, live: Obj | None) -> Obj:
        """ObjectForCluster + RetainClusterFields + ApplyOverrides (managed label last)."""
        obj: Obj = copy.deepcopy((fed.get("spec") or {}).get("template") or {})
        md = obj.setdefault("metadata", {})
        md.pop("annotations", None)  # AnnotationsNotSupported
        md.pop("finalizers", None)  # FinalizersNotSupported
        md["name"] = meta(fed)["name"]
        md.pop("namespace", None)
        obj["apiVersion"] = obj.get("apiVersion") or self.tc.target.api_version
        obj["kind"] = self.tc.target.kind
        if live is not None:
            for field in SERVER_FIELDS:
                if field in meta(live):
                    md[field] = meta(live)[field]
            for field in ("annotations", "finalizers"):
                md.pop(field, None)
                if meta(live).get(field):
                    md[field] = copy.deepcopy(meta(live)[field])
            if "status" not in obj and "status" in live:
                obj["status"] = copy.deepcopy(live["status"])
        for override in (fed.get("spec") or {}).get("overrides") or []:
            if override.get("clusterName") == cname:
                ops = [{"op": "replace", **o} for o in override.get("clusterOverrides") or []]
                obj = apply_json_patch(obj, ops)
        obj["metadata"].setdefault("labels", {})[MANAGED] = "true"
        return obj

    # ---- deletion and orphans ------------------------------------------------------------

    def _ensure_deletion(
        self, world: World, host: SimCluster, fed: Obj, host_ns: Obj | None
    ) -> None:
        name = meta(fed)["name"]
        for key in [k for k in self._versions if k[0] == host.name and k[2] == name]:
            del self._versions[key]  # DeleteVersions
        if FINALIZER not in (meta(fed).get("finalizers") or []):
            return
        if (meta(fed).get("annotations") or {}).get(ORPHAN_ANNOTATION) == "true":
            self._drop_finalizer(host, fed)
            self._remove_labels(world, host, name)
            return
        opts: Obj = {}
        raw = (meta(fed).get("annotations") or {}).get(DELETE_OPTION)
        if raw:
            try:
                parsed = json.loads(raw)
            except ValueError:
                return  # "failed to deserialize delete options": retried, never deleted
            opts = {
                k: parsed[k] for k in ("propagationPolicy", "gracePeriodSeconds") if k in parsed
            }
        ready = joined_members(world, host)
        unready = set(kubefed_clusters(host)) - set(ready)
        remaining = []
        for cname, member in sorted(ready.items()):
            live = member.store.peek(self.tc.target, "", name)
            if not is_managed(live):
                continue
            assert live is not None
            in_host = self._in_host(live, host_ns)
            if in_host and meta(live).get("deletionTimestamp"):
                continue
            remaining.append(cname)
            if meta(live).get("deletionTimestamp"):
                continue
            if in_host:
                self._unlabel(member, live)
            else:
                self._delete(member, name, opts)
        if unready or remaining:
            # "the following clusters were not ready" / waiting for removal: the finalizer stays;
            # the copies' delete events (or the cluster coming back) bring KubeFed back here
            return
        self._drop_finalizer(host, fed)

    def _remove_labels(self, world: World, host: SimCluster, name: str) -> None:
        """removeManagedLabel over every ready cluster's managed copy that is not terminating."""
        for member in joined_members(world, host).values():
            live = member.store.peek(self.tc.target, "", name)
            if is_managed(live) and live is not None and not meta(live).get("deletionTimestamp"):
                self._unlabel(member, live)

    def _in_host(self, obj: Obj, host_ns: Obj | None) -> bool:
        """IsNamespaceInHostCluster: the copy *is* the namespace holding the FederatedNamespace."""
        return host_ns is not None and meta(obj).get("uid") == meta(host_ns).get("uid")

    def _unlabel(self, member: SimCluster, obj: Obj) -> None:
        new = copy.deepcopy(obj)
        labels = new["metadata"].get("labels") or {}
        if labels.get(MANAGED) == "true":
            del labels[MANAGED]
        replace(member, self.tc.target, obj, new)
        self._cache.discard((member.name, meta(obj)["name"]))

    def _delete(self, member: SimCluster, name: str, opts: Obj) -> None:
        try:
            member.store.delete(self.tc.target, "", name, opts)
        except errors.ApiError as e:
            if e.code != 404:
                raise

    def _drop_finalizer(self, host: SimCluster, fed: Obj) -> None:
        new = copy.deepcopy(fed)
        new["metadata"]["finalizers"] = [f for f in new["metadata"]["finalizers"] if f != FINALIZER]
        replace(host, self.tc.federated, fed, new)

    def _write_status(self, host: SimCluster, fed: Obj, status: dict[str, str]) -> None:
        """status.go SetFederatedStatus: clusters with an outcome, one Propagation condition."""
        clusters = [{"name": c, **({"status": s} if s else {})} for c, s in sorted(status.items())]
        ok = all(s == "" for s in status.values())  # any other value → CheckClusters
        reason = "" if ok else "CheckClusters"
        old = fed.get("status") or {}
        cond = next(
            (c for c in old.get("conditions") or [] if c.get("type") == "Propagation"), None
        )
        if old.get("clusters") == clusters and cond and cond.get("reason", "") == reason:
            return
        from k8s.sim.store import now_rfc3339

        now = now_rfc3339()
        new_cond = {
            "type": "Propagation",
            "status": "True" if ok else "False",
            "lastUpdateTime": now,
        }
        if reason:
            new_cond["reason"] = reason
        same = (
            cond and cond.get("status") == new_cond["status"] and cond.get("reason", "") == reason
        )
        new_cond["lastTransitionTime"] = (
            cond.get("lastTransitionTime", now) if cond and same else now
        )
        new = copy.deepcopy(fed)
        new["status"] = {
            "clusters": clusters,
            "conditions": [new_cond],
            "observedGeneration": meta(fed).get("generation", 1),
        }
        replace(host, self.tc.federated, fed, new)
