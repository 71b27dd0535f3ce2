"""Cluster steps: unbind the member from its old host, align the jwtSecret, join the new host
under the same name, and verify the end state."""

from __future__ import annotations

import base64
import contextlib
import hashlib
from datetime import UTC, datetime
from typing import Any

import yaml

from k8s import credentials
from k8s.access import ClusterApi
from k8s.errors import NotFound
from k8s.kinds import CLUSTER_CONFIGURATIONS, CLUSTERS, WORKSPACES
from k8s.parse import LABEL_WORKSPACE
from k8s.plan import Step
from k8s.steps import StepContext, StepError, StepImpl, created_by_us, register
from k8s.steps.namespaces import namespaces_by_name

Obj = dict[str, Any]


def _cluster(api: ClusterApi, name: str) -> Obj | None:
    try:
        return api.get_custom(CLUSTERS, name)
    except NotFound:
        return None


def _ready(obj: Obj) -> tuple[bool, str]:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True", str(cond.get("message") or "")
    return False, "no Ready condition yet"


def _at(condition: Obj) -> datetime:
    """When a condition last changed (its newest timestamp; long ago when it has none)."""
    stamps = [condition.get("lastUpdateTime"), condition.get("lastTransitionTime")]
    parsed = []
    for stamp in stamps:
        with contextlib.suppress(TypeError, ValueError):
            parsed.append(datetime.fromisoformat(str(stamp).replace("Z", "+00:00")))
    return max(parsed, default=datetime.min.replace(tzinfo=UTC))


def _failures(obj: Obj) -> list[Obj]:
    """The Cluster's `Federated=False` conditions: KubeSphere's join failed, and says why."""
    conditions = (obj.get("status") or {}).get("conditions") or []
    return [c for c in conditions if c.get("type") == "Federated" and c.get("status") == "False"]


def _last_failure(obj: Obj | None) -> datetime | None:
    """When the newest join failure already on the Cluster was written (None: there is none)."""
    failures = _failures(obj) if obj is not None else []
    return max((_at(c) for c in failures), default=None)


def _claims(obj: Obj) -> str:
    return str((obj.get("status") or {}).get("uid") or "")


@register
class UnbindCluster(StepImpl):
    kind = "unbind_cluster"

    def is_done(self, ctx: StepContext, step: Step) -> bool:
        member = str(step.params["member"])
        if _cluster(ctx.api(step.cluster), member) is not None:
            return False
        return not step.params.get("revoke") or not credentials.exists(
            ctx.api(member), step.cluster
        )

    def apply(self, ctx: StepContext, step: Step) -> str:
        api = ctx.api(step.cluster)
        member = str(step.params["member"])
        obj = _cluster(api, member)
        if obj is not None and not obj["metadata"].get("deletionTimestamp"):
            if _claims(obj) and _claims(obj) != step.params["member_uid"]:
                raise StepError(
                    f"Cluster {member} on {step.cluster} now points at a different cluster; "
                    "refusing to unbind it"
                )
            with contextlib.suppress(NotFound):
                api.delete_custom(CLUSTERS, member, uid=str(obj["metadata"]["uid"]))
        ctx.wait_until(
            f"{step.cluster} to release {member} (its finalizer needs {member} reachable)",
            lambda: _cluster(api, member) is None,
        )
        revoked = ""
        if step.params.get("revoke") and credentials.revoke(ctx.api(member), step.cluster):
            revoked = f"; {step.cluster}'s credential on {member} revoked"
        return f"{member} unbound from {step.cluster}{revoked}"

    def hint(self, step: Step) -> str:
        return (
            f"{step.cluster} must reach {step.params['member']} to finish the unbind (KubeSphere "
            "3.4's webhook); check connectivity and the Cluster's finalizer, then Retry"
        )


def jwt_fingerprint(api: ClusterApi) -> str | None:
    """A short hash of a cluster's jwtSecret; the secret itself never leaves this function."""
    try:
        cm = api.get_configmap("kubesphere-system", "kubesphere-config")
    except NotFound:
        return None
    config = yaml.safe_load((cm.get("data") or {}).get("kubesphere.yaml") or "") or {}
    auth = config.get("authentication") or {}
    secret = auth.get("jwtSecret") or (auth.get("issuer") or {}).get("jwtSecret")
    if not secret:
        return None
    return hashlib.sha256(str(secret).encode()).hexdigest()[:12]


@register
class SyncJwt(StepImpl):
    kind = "sync_jwt"

    def is_done(self, ctx: StepContext, step: Step) -> bool:
        mine = jwt_fingerprint(ctx.api(step.cluster))
        return mine is not None and mine == jwt_fingerprint(ctx.api(str(step.params["from_host"])))

    def apply(self, ctx: StepContext, step: Step) -> str:
        host = ctx.api(str(step.params["from_host"]))
        cm = host.get_configmap("kubesphere-system", "kubesphere-config")
        config = yaml.safe_load((cm.get("data") or {}).get("kubesphere.yaml") or "") or {}
        secret = (config.get("authentication") or {}).get("jwtSecret")
        if not secret:
            raise StepError(f"{step.params['from_host']} has no jwtSecret in kubesphere-config")
        ctx.api(step.cluster).patch_custom(
            CLUSTER_CONFIGURATIONS,
            "ks-installer",
            {"spec": {"authentication": {"jwtSecret": str(secret)}}},
            namespace="kubesphere-system",
        )
        del secret, config, cm
        ctx.wait_until(
            f"ks-installer on {step.cluster} to apply the new jwtSecret",
            lambda: self.is_done(ctx, step),
            timeout=ctx.installer_timeout,
        )
        return f"{step.cluster}'s jwtSecret now matches {step.params['from_host']}'s"

    def hint(self, step: Step) -> str:
        return (
            f"on {step.cluster}: kubectl -n kubesphere-system edit cc ks-installer and set "
            f"authentication.jwtSecret to {step.params['from_host']}'s, wait for ks-installer, "
            "then Retry"
        )


@register
class JoinCluster(StepImpl):
    kind = "join_cluster"

    def is_done(self, ctx: StepContext, step: Step) -> bool:
        obj = _cluster(ctx.api(step.cluster), str(step.params["member"]))
        return obj is not None and _claims(obj) == step.params["member_uid"] and _ready(obj)[0]

    def apply(self, ctx: StepContext, step: Step) -> str:
        api = ctx.api(step.cluster)
        member = str(step.params["member"])
        obj = _cluster(api, member)
        if obj is not None and _claims(obj) and _claims(obj) != step.params["member_uid"]:
            raise StepError(f"{step.cluster} already has a Cluster {member} for another cluster")
        if obj is None:
            try:  # the host's own credential (prepare_credential), never the bot's identity
                own = credentials.kubeconfig(ctx.api(member), step.cluster, member)
            except credentials.CredentialError as e:
                raise StepError(str(e)) from e
            kubeconfig = base64.b64encode(own).decode()
            del own
            with created_by_us():
                api.create_custom(
                    CLUSTERS,
                    {
                        "apiVersion": CLUSTERS.api_version,
                        "kind": "Cluster",
                        "metadata": {
                            "name": member,
                            "labels": dict(step.params.get("labels") or {}),
                        },
                        "spec": {
                            "joinFederation": True,
                            "provider": "kubesphere",
                            "connection": {"type": "direct", "kubeconfig": kubeconfig},
                        },
                    },
                    idempotent=True,
                )
            del kubeconfig

        # a failure recorded before this attempt (a resume after the cause was fixed) is old
        # news: KubeSphere retries the join on its own, so only a newer one ends the wait
        seen = _last_failure(obj)

        def joined() -> bool:
            current = _cluster(api, member)
            if current is None:
                return False
            ready, _message = _ready(current)
            failed = [c for c in _failures(current) if seen is None or _at(c) > seen]
            if failed:
                # upstream writes the error itself as the condition's reason
                message, reason = str(failed[0].get("message")), str(failed[0].get("reason"))
                detail = f" ({reason})" if " " in reason else ""
                raise StepError(f"{step.cluster} could not join {member}: {message}{detail}")
            return ready and _claims(current) == step.params["member_uid"]

        ctx.wait_until(f"{member} to become Ready on {step.cluster}", joined)
        return f"{member} joined {step.cluster} and is Ready"

    def hint(self, step: Step) -> str:
        return (
            f"on {step.cluster}: kubectl get clusters.cluster.kubesphere.io "
            f"{step.params['member']} -o yaml and read its conditions, then Retry"
        )


@register
class Verify(StepImpl):
    kind = "verify"

    def _problems(self, ctx: StepContext, step: Step) -> list[str]:
        member = str(step.params["member"])
        problems: list[str] = []
        obj = _cluster(ctx.api(step.cluster), member)
        if obj is None or not _ready(obj)[0]:
            problems.append(f"{member} is not Ready on {step.cluster}")
        old = step.params.get("old_host")
        if old and _cluster(ctx.api(str(old)), member) is not None:
            problems.append(f"{member} is still registered on {old}")
        bindings = {
            n: s
            for step2 in ctx.plan.steps
            if step2.kind == "rebind_namespaces"
            for n, s in step2.params["bindings"].items()
        }
        api = ctx.api(member)
        found = namespaces_by_name(api, list(step.params.get("keep") or []))
        uids: dict[str, str | None] = {}  # workspace → uid, read once each
        for name in step.params.get("keep") or []:
            if name not in found:
                problems.append(f"kept namespace {name} is missing on {member}")
                continue
            ws = bindings.get(name)
            if ws is None:
                continue
            labels = found[name]["metadata"].get("labels") or {}
            if labels.get(LABEL_WORKSPACE) != ws:
                problems.append(f"namespace {name} is not labelled for workspace {ws}")
                continue
            if ws not in uids:
                try:
                    uids[ws] = str(api.get_custom(WORKSPACES, ws)["metadata"]["uid"])
                except NotFound:
                    uids[ws] = None
            uid = uids[ws]
            if uid is None:
                problems.append(f"workspace {ws} is missing on {member}")
                continue
            refs = found[name]["metadata"].get("ownerReferences") or []
            if not any(r.get("uid") == uid for r in refs):
                problems.append(f"namespace {name} is not owned by workspace {ws}")
        return problems

    def is_done(self, ctx: StepContext, step: Step) -> bool:
        return False  # verification is cheap and always worth repeating

    def apply(self, ctx: StepContext, step: Step) -> str:
        problems = self._problems(ctx, step)
        if problems:
            raise StepError("; ".join(problems))
        kept = len(step.params.get("keep") or [])
        return f"{step.params['member']} is Ready on {step.cluster}; {kept} namespace(s) in place"
