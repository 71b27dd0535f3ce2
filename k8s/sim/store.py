"""One simulated cluster's object store, with kube-apiserver's write semantics.

It owns what etcd and the generic registry give a real server: resourceVersions, uids,
optimistic concurrency, finalizers, namespace termination and garbage collection by
ownerReferences. Stored objects are never mutated in place (every write stores a new dict), so
reads under the world lock may hand out references without copying 5,000 namespaces.

Garbage collection and namespace termination are controllers in kube-controller-manager, so on a
real cluster they happen some time after the write that triggers them. With `gc_delay()` > 0 (and a
`scheduler` the world provides) every such step runs that many seconds later from the world's
controller loop; with 0 they run inside the write, which keeps small tests deterministic.
"""

from __future__ import annotations

import copy
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from k8s.sim import errors, names
from k8s.sim.resources import NAMESPACES, SECRETS, Registry, ResourceType

Obj = dict[str, Any]
Key = tuple[str, str, str]  # (resource key, namespace or "", name)
Admit = Callable[[str, ResourceType, Obj, Obj], None]  # (cluster, type, old, new); raises to deny

HISTORY = 50_000
FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"
KUBERNETES_FINALIZER = "kubernetes"
Scheduler = Callable[[str, float], None]  # (token, delay): ask the world to call run_deferred


@dataclass(frozen=True)
class Event:
    rv: int
    type: str  # ADDED | MODIFIED | DELETED
    rkey: str
    namespace: str
    obj: Obj
    old: Obj | None


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def meta(obj: Obj) -> dict[str, Any]:
    m = obj.get("metadata")
    return m if isinstance(m, dict) else {}


def _without_rv(obj: Obj) -> Obj:
    out = dict(obj)
    md = dict(meta(obj))
    md.pop("resourceVersion", None)
    md.pop("managedFields", None)
    out["metadata"] = md
    return out


def _default(rt: ResourceType, obj: Obj) -> None:
    """The API server's defaulting for the built-in kinds that have any here."""
    if rt is SECRETS and not obj.get("type"):
        obj["type"] = "Opaque"


class ClusterStore:
    """All objects of one cluster. Callers hold `lock` (the world's) around every call."""

    def __init__(
        self,
        name: str,
        registry: Registry,
        lock: threading.RLock,
        on_event: Callable[[str, Event], None] | None = None,
        admit: Admit | None = None,
    ) -> None:
        self.name = name
        self.registry = registry
        self.lock = lock
        self.cond = threading.Condition(lock)
        self.on_event = on_event
        self.admit = admit  # validating admission webhooks, consulted on every update
        self.rv = 0
        self._objects: dict[str, dict[tuple[str, str], Obj]] = {t.key: {} for t in registry.types}
        self._uids: dict[str, Key] = {}
        self._dependents: dict[str, set[Key]] = {}
        self.history: deque[Event] = deque(maxlen=HISTORY)
        self.compacted_rv = 0
        self.gc_delay: Callable[[], float] = lambda: 0.0  # the world's current lag
        self.scheduler: Scheduler | None = None
        self.deferred: dict[str, Callable[[], None]] = {}
        self._tokens = 0
        self._finalizing: set[str] = set()

    # ---- reads -------------------------------------------------------------------------------

    def peek(self, rt: ResourceType, namespace: str, name: str) -> Obj | None:
        """The stored object itself (read-only) or None."""
        return self._objects[rt.key].get((namespace if rt.namespaced else "", name))

    def get(self, rt: ResourceType, namespace: str, name: str) -> Obj:
        obj = self.peek(rt, namespace, name)
        if obj is None:
            raise errors.not_found(rt, name)
        return copy.deepcopy(obj)

    def iter(self, rt: ResourceType, namespace: str | None = None) -> Iterator[Obj]:
        """Stored objects (read-only), sorted by namespace and name like the real server."""
        bucket = self._objects[rt.key]
        for (ns, _name), obj in sorted(bucket.items(), key=lambda kv: kv[0]):
            if namespace is None or ns == namespace:
                yield obj

    def by_uid(self, uid: str) -> Obj | None:
        key = self._uids.get(uid)
        if key is None:
            return None
        return self._objects[key[0]].get((key[1], key[2]))

    # ---- writes ------------------------------------------------------------------------------

    def create(self, rt: ResourceType, namespace: str, body: Obj, dry_run: bool = False) -> Obj:
        obj = copy.deepcopy(body)
        self._check_type(rt, obj)
        md = obj.setdefault("metadata", {})
        if not isinstance(md, dict):
            raise errors.bad_request("metadata must be an object")
        if not md.get("name") and md.get("generateName"):
            md["name"] = names.generate_name(str(md["generateName"]))
        name = str(md.get("name") or "")
        ns = self._check_namespace(rt, namespace, md, name)
        self._validate(rt, name, obj)
        if md.get("resourceVersion"):
            raise errors.bad_request("resourceVersion should not be set on objects to be created")
        if rt.namespaced:
            owner_ns = self.peek(NAMESPACES, "", ns)
            if owner_ns is None:
                raise errors.not_found(NAMESPACES, ns)
            if meta(owner_ns).get("deletionTimestamp"):
                raise errors.forbidden(
                    rt,
                    name,
                    f"unable to create new content in namespace {ns} "
                    "because it is being terminated",
                )
        if (ns, name) in self._objects[rt.key]:
            raise errors.already_exists(rt, name)
        md["uid"] = str(uuid.uuid4())
        md["creationTimestamp"] = now_rfc3339()
        md.pop("deletionTimestamp", None)
        md.pop("deletionGracePeriodSeconds", None)
        if rt.custom:
            md["generation"] = 1
        if rt is NAMESPACES:
            md.setdefault("labels", {})["kubernetes.io/metadata.name"] = name
            given = [str(f) for f in (obj.get("spec") or {}).get("finalizers") or []]
            if KUBERNETES_FINALIZER not in given:
                given.append(KUBERNETES_FINALIZER)
            obj["spec"] = {"finalizers": given}
            obj["status"] = {"phase": "Active"}
        _default(rt, obj)
        if dry_run:
            return obj
        self._commit("ADDED", rt, ns, name, obj, None)
        self._collect_if_orphaned(rt, ns, name)
        return copy.deepcopy(obj)

    def update(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        body: Obj,
        dry_run: bool = False,
        subresource: str | None = None,
    ) -> Obj:
        ns = namespace if rt.namespaced else ""
        cur = self.peek(rt, ns, name)
        if cur is None:
            raise errors.not_found(rt, name)
        obj = copy.deepcopy(body)
        self._check_type(rt, obj)
        md = obj.setdefault("metadata", {})
        if md.get("name") != name:
            raise errors.bad_request(
                f"the name of the object ({md.get('name')}) does not match the name on the URL "
                f"({name})"
            )
        self._check_namespace(rt, namespace, md, name)
        rv = md.get("resourceVersion")
        if rv and str(rv) != meta(cur)["resourceVersion"]:
            raise errors.conflict(rt, name)
        if md.get("uid") and md["uid"] != meta(cur)["uid"]:
            raise errors.conflict(
                rt,
                name,
                f"Precondition failed: UID in precondition: {md['uid']}, "
                f"UID in object meta: {meta(cur)['uid']}",
            )
        self._admit(rt, cur, obj)
        return self._replace(rt, ns, name, cur, obj, dry_run, subresource)

    def patch(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        body: bytes,
        content_type: str,
        dry_run: bool = False,
        subresource: str | None = None,
    ) -> Obj:
        from k8s.sim.patch import PatchError, apply_patch

        ns = namespace if rt.namespaced else ""
        cur = self.peek(rt, ns, name)
        if cur is None:
            raise errors.not_found(rt, name)
        try:
            new = apply_patch(cur, body, content_type, custom_resource=rt.custom)
        except PatchError as e:
            status = e.status()
            raise errors.ApiError(
                e.code,
                str(status.get("reason", "")),
                str(status.get("message", e)),
                status.get("details"),
            ) from e
        md = new.setdefault("metadata", {})
        if str(md.get("resourceVersion", "")) != meta(cur)["resourceVersion"]:
            raise errors.conflict(rt, name)
        if md.get("name") != name:
            raise errors.invalid(
                rt,
                name,
                [("metadata.name", f'Invalid value: "{md.get("name")}": field is immutable')],
            )
        md["uid"] = meta(cur)["uid"]
        self._check_type(rt, new)
        self._admit(rt, cur, new)
        return self._replace(rt, ns, name, cur, new, dry_run, subresource)

    def delete(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        options: Obj | None = None,
        dry_run: bool = False,
    ) -> Obj:
        """Delete as the real server does; returns the object if it lingers, else a Status."""
        options = options or {}
        ns = namespace if rt.namespaced else ""
        cur = self.peek(rt, ns, name)
        if cur is None:
            raise errors.not_found(rt, name)
        pre = options.get("preconditions") or {}
        if pre.get("uid") and pre["uid"] != meta(cur)["uid"]:
            raise errors.conflict(
                rt,
                name,
                f"Precondition failed: UID in precondition: {pre['uid']}, "
                f"UID in object meta: {meta(cur)['uid']}",
            )
        if pre.get("resourceVersion") and pre["resourceVersion"] != meta(cur)["resourceVersion"]:
            raise errors.conflict(
                rt,
                name,
                f"Precondition failed: ResourceVersion in precondition: "
                f"{pre['resourceVersion']}, ResourceVersion in object meta: "
                f"{meta(cur)['resourceVersion']}",
            )
        policy = options.get("propagationPolicy")
        if policy is None and options.get("orphanDependents") is True:
            policy = "Orphan"
        policy = policy or "Background"
        if policy not in ("Background", "Foreground", "Orphan"):
            raise errors.bad_request(f"unsupported propagationPolicy: {policy}")
        if dry_run:
            return copy.deepcopy(cur)
        uid = meta(cur)["uid"]
        lingering = (
            bool(meta(cur).get("finalizers"))
            or rt is NAMESPACES
            or policy in ("Foreground", "Orphan")
        )
        if not lingering:
            self._remove(rt, ns, name)
            return self._success(rt, name, uid)
        obj = copy.deepcopy(cur)
        md = obj["metadata"]
        if not md.get("deletionTimestamp"):
            md["deletionTimestamp"] = now_rfc3339()
            md["deletionGracePeriodSeconds"] = 0
        if policy == "Foreground" and FOREGROUND not in md.get("finalizers", []):
            md.setdefault("finalizers", []).append(FOREGROUND)
        if policy == "Orphan" and ORPHAN not in md.get("finalizers", []):
            # the registry adds the `orphan` finalizer; GC orphans dependents, then removes it
            md.setdefault("finalizers", []).append(ORPHAN)
        if rt is NAMESPACES:
            obj.setdefault("status", {})["phase"] = "Terminating"
        if obj != cur:
            self._commit("MODIFIED", rt, ns, name, obj, cur)
        if rt is NAMESPACES:
            self._later(lambda: self._finalize_namespace(name))
        if policy == "Foreground":
            self._later(lambda: self._foreground(uid))
        if policy == "Orphan":
            self._later(lambda: self._finish_orphan(uid))
        current = self.peek(rt, ns, name)
        if current is None:
            return self._success(rt, name, uid)
        return copy.deepcopy(current)

    # ---- deferred garbage collection ---------------------------------------------------------

    def _later(self, step: Callable[[], None]) -> None:
        """Run a kube-controller-manager step now, or `gc_delay` seconds later if asked to."""
        delay = self.gc_delay()
        if delay <= 0 or self.scheduler is None:
            step()
            return
        self._tokens += 1
        token = str(self._tokens)
        self.deferred[token] = step
        self.scheduler(token, delay)

    def run_deferred(self, token: str) -> None:
        """Run a deferred step; it stays pending (for a retry) if it raises."""
        step = self.deferred.get(token)
        if step is not None:
            step()
            self.deferred.pop(token, None)

    def _foreground(self, uid: str) -> None:
        for dep in list(self._dependents.get(uid, ())):
            self._delete_key(dep, "Background")
        self._release_foreground(uid)

    def _finish_orphan(self, uid: str) -> None:
        """GC's orphan step: strip the owner from its dependents, then drop `orphan`."""
        self._orphan_dependents(uid)
        key = self._uids.get(uid)
        if key is None:
            return
        rt = self.registry.by_key(key[0])
        owner = self.peek(rt, key[1], key[2])
        if owner is None or ORPHAN not in (meta(owner).get("finalizers") or []):
            return
        new = copy.deepcopy(owner)
        new["metadata"]["finalizers"] = [f for f in new["metadata"]["finalizers"] if f != ORPHAN]
        self._replace(rt, key[1], key[2], owner, new, False)

    # ---- internals ---------------------------------------------------------------------------

    def _admit(self, rt: ResourceType, old: Obj, new: Obj) -> None:
        if self.admit is not None:
            self.admit(self.name, rt, old, new)

    def _check_type(self, rt: ResourceType, obj: Obj) -> None:
        api_version = obj.get("apiVersion") or rt.api_version
        kind = obj.get("kind") or rt.kind
        if api_version != rt.api_version or kind != rt.kind:
            raise errors.bad_request(
                f"the API version in the data ({api_version}) does not match the expected API "
                f"version ({rt.api_version})"
                if api_version != rt.api_version
                else f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})"
            )
        obj["apiVersion"] = rt.api_version
        obj["kind"] = rt.kind

    def _check_namespace(
        self, rt: ResourceType, namespace: str, md: dict[str, Any], name: str
    ) -> str:
        if not rt.namespaced:
            md.pop("namespace", None)
            return ""
        body_ns = md.get("namespace")
        if body_ns and body_ns != namespace:
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on the "
                "request"
            )
        md["namespace"] = namespace
        return namespace

    def _validate(self, rt: ResourceType, name: str, obj: Obj) -> None:
        causes: list[tuple[str, str]] = []
        if not name:
            causes.append(("metadata.name", "Required value: name or generateName is required"))
        else:
            problems = (
                names.dns1123_label_errors(name)
                if rt is NAMESPACES
                else names.dns1123_subdomain_errors(name)
            )
            causes += [("metadata.name", f'Invalid value: "{name}": {p}') for p in problems]
        labels = meta(obj).get("labels") or {}
        if not isinstance(labels, dict):
            causes.append(("metadata.labels", "Invalid value: labels must be a map"))
        else:
            causes += [("metadata.labels", p) for p in names.validate_labels(labels)]
        if causes:
            raise errors.invalid(rt, name, causes)

    def _replace(
        self,
        rt: ResourceType,
        ns: str,
        name: str,
        cur: Obj,
        obj: Obj,
        dry_run: bool,
        subresource: str | None = None,
    ) -> Obj:
        md = obj.setdefault("metadata", {})
        old_md = meta(cur)
        for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"):
            if k in old_md:
                md[k] = old_md[k]
            else:
                md.pop(k, None)
        if rt.namespaced:
            md["namespace"] = ns
        self._validate(rt, name, obj)
        if old_md.get("deletionTimestamp"):
            added = set(md.get("finalizers") or []) - set(old_md.get("finalizers") or [])
            if added:
                raise errors.invalid(
                    rt,
                    name,
                    [
                        (
                            "metadata.finalizers",
                            f"Forbidden: no new finalizers can be added if the object is being "
                            f"deleted, found new finalizers {sorted(added)}",
                        )
                    ],
                )
        if rt is NAMESPACES:
            # spec.finalizers changes only through /finalize, the phase only through /status
            if subresource != "finalize":
                obj["spec"] = cur.get("spec", {})
            if subresource != "status":
                obj["status"] = cur.get("status", {})
            md.setdefault("labels", {})["kubernetes.io/metadata.name"] = name
        _default(rt, obj)
        if not md.get("finalizers"):
            md.pop("finalizers", None)
        if not md.get("ownerReferences"):
            md.pop("ownerReferences", None)
        if rt.custom:
            gen = int(old_md.get("generation", 1))
            changed = {k: v for k, v in obj.items() if k not in ("metadata", "status")} != {
                k: v for k, v in cur.items() if k not in ("metadata", "status")
            }
            md["generation"] = gen + 1 if changed else gen
        if _without_rv(obj) == _without_rv(cur):
            return copy.deepcopy(cur)
        if dry_run:
            return obj
        self._commit("MODIFIED", rt, ns, name, obj, cur)
        if md.get("deletionTimestamp"):
            if rt is NAMESPACES:
                self._later(lambda: self._finalize_namespace(name))
            elif not md.get("finalizers"):
                self._remove(rt, ns, name)
        else:
            self._collect_if_orphaned(rt, ns, name)
        current = self.peek(rt, ns, name)
        return copy.deepcopy(current if current is not None else obj)

    def _commit(
        self, kind: str, rt: ResourceType, ns: str, name: str, obj: Obj, old: Obj | None
    ) -> None:
        self.rv += 1
        bucket = self._objects[rt.key]
        md = obj["metadata"]
        md["resourceVersion"] = str(self.rv)
        key: Key = (rt.key, ns, name)
        if old is not None:
            for ref in meta(old).get("ownerReferences") or []:
                self._dependents.get(str(ref.get("uid")), set()).discard(key)
        if kind == "DELETED":
            bucket.pop((ns, name), None)
            self._uids.pop(md["uid"], None)
        else:
            bucket[(ns, name)] = obj
            self._uids[md["uid"]] = key
            for ref in md.get("ownerReferences") or []:
                self._dependents.setdefault(str(ref.get("uid")), set()).add(key)
        if len(self.history) == self.history.maxlen:
            self.compacted_rv = self.history[0].rv
        event = Event(self.rv, kind, rt.key, ns, obj, old)
        self.history.append(event)
        self.cond.notify_all()
        if self.on_event is not None:
            self.on_event(self.name, event)

    def _success(self, rt: ResourceType, name: str, uid: str) -> Obj:
        details: dict[str, Any] = {"name": name, "kind": rt.plural, "uid": uid}
        if rt.group:
            details["group"] = rt.group
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": details,
        }

    def _remove(self, rt: ResourceType, ns: str, name: str) -> None:
        cur = self.peek(rt, ns, name)
        if cur is None:
            return
        final = copy.deepcopy(cur)
        uid = meta(final)["uid"]
        self._commit("DELETED", rt, ns, name, final, cur)
        dependents = list(self._dependents.pop(uid, ()))
        if dependents:
            self._later(lambda: self._collect_all(dependents))
        if rt.namespaced:
            ns_obj = self.peek(NAMESPACES, "", ns)
            if ns_obj is not None and meta(ns_obj).get("deletionTimestamp"):
                self._later(lambda: self._finalize_namespace(ns))
        owners = {str(r.get("uid")) for r in meta(final).get("ownerReferences") or []}
        if owners:
            self._later(lambda: self._release_all(owners))

    def _release_all(self, owner_uids: set[str]) -> None:
        for owner_uid in owner_uids:
            self._release_foreground(owner_uid)

    def _collect_all(self, keys: list[Key]) -> None:
        for key in keys:
            self._collect_dependent(key)

    def _delete_key(self, key: Key, policy: str) -> None:
        rt = self.registry.by_key(key[0])
        if self.peek(rt, key[1], key[2]) is not None:
            self.delete(rt, key[1], key[2], {"propagationPolicy": policy})

    def _collect_dependent(self, key: Key) -> None:
        """GC: delete a dependent whose owners are all gone, else drop its dangling refs."""
        rt = self.registry.by_key(key[0])
        dep = self.peek(rt, key[1], key[2])
        if dep is None:
            return
        refs = meta(dep).get("ownerReferences") or []
        alive = [r for r in refs if str(r.get("uid")) in self._uids]
        if not alive:
            if not meta(dep).get("deletionTimestamp"):
                self.delete(rt, key[1], key[2], {"propagationPolicy": "Background"})
            return
        if len(alive) != len(refs):
            new = copy.deepcopy(dep)
            new["metadata"]["ownerReferences"] = alive
            self._commit("MODIFIED", rt, key[1], key[2], new, dep)

    def _collect_if_orphaned(self, rt: ResourceType, ns: str, name: str) -> None:
        obj = self.peek(rt, ns, name)
        refs = meta(obj).get("ownerReferences") if obj is not None else None
        if refs and any(str(r.get("uid")) not in self._uids for r in refs):
            self._later(lambda: self._collect_dependent((rt.key, ns, name)))

    def _orphan_dependents(self, owner_uid: str) -> None:
        for key in list(self._dependents.pop(owner_uid, ())):
            rt = self.registry.by_key(key[0])
            dep = self.peek(rt, key[1], key[2])
            if dep is None:
                continue
            new = copy.deepcopy(dep)
            refs = [r for r in meta(dep).get("ownerReferences") or [] if r.get("uid") != owner_uid]
            if refs:
                new["metadata"]["ownerReferences"] = refs
            else:
                new["metadata"].pop("ownerReferences", None)
            self._commit("MODIFIED", rt, key[1], key[2], new, dep)

    def _release_foreground(self, owner_uid: str) -> None:
        """A foreground-deleted owner goes once no blocking dependent is left."""
        owner_key = self._uids.get(owner_uid)
        if owner_key is None:
            return
        rt = self.registry.by_key(owner_key[0])
        owner = self.peek(rt, owner_key[1], owner_key[2])
        if owner is None or FOREGROUND not in (meta(owner).get("finalizers") or []):
            return
        for dep_key in self._dependents.get(owner_uid, ()):
            dep_rt = self.registry.by_key(dep_key[0])
            dep = self.peek(dep_rt, dep_key[1], dep_key[2])
            refs = meta(dep).get("ownerReferences") if dep else None
            if any(r.get("uid") == owner_uid and r.get("blockOwnerDeletion") for r in refs or []):
                return
        new = copy.deepcopy(owner)
        new["metadata"]["finalizers"] = [
            f for f in new["metadata"]["finalizers"] if f != FOREGROUND
        ]
        self._replace(rt, owner_key[1], owner_key[2], owner, new, False)

    def _finalize_namespace(self, ns: str) -> None:
        """What the namespace controller does for a Terminating namespace."""
        obj = self.peek(NAMESPACES, "", ns)
        if obj is None or not meta(obj).get("deletionTimestamp") or ns in self._finalizing:
            return
        self._finalizing.add(ns)  # deleting its content re-enters here; the outer pass decides
        try:
            self._finalize_namespace_once(ns)
        finally:
            self._finalizing.discard(ns)

    def _finalize_namespace_once(self, ns: str) -> None:
        remaining = False
        for rt in self.registry.types:
            if not rt.namespaced:
                continue
            for item in list(self.iter(rt, ns)):
                if not meta(item).get("deletionTimestamp"):
                    self.delete(rt, ns, meta(item)["name"], {"propagationPolicy": "Background"})
                if self.peek(rt, ns, meta(item)["name"]) is not None:
                    remaining = True
        obj = self.peek(NAMESPACES, "", ns)
        if obj is None or remaining:
            return
        spec_finalizers = obj.get("spec", {}).get("finalizers") or []
        if KUBERNETES_FINALIZER in spec_finalizers:
            new = copy.deepcopy(obj)
            new["spec"]["finalizers"] = [f for f in spec_finalizers if f != KUBERNETES_FINALIZER]
            self._commit("MODIFIED", NAMESPACES, "", ns, new, obj)
            obj = new
        # another party's spec or metadata finalizer keeps the namespace Terminating
        if not meta(obj).get("finalizers") and not obj.get("spec", {}).get("finalizers"):
            self._remove(NAMESPACES, "", ns)
