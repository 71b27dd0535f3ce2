"""Unbinding kept namespaces before their workspace goes, and re-binding them afterwards."""

from __future__ import annotations

from typing import Any

from k8s.access import ClusterApi
from k8s.errors import Conflict, NotFound
from k8s.kinds import WORKSPACES
from k8s.parse import LABEL_WORKSPACE, labels_of
from k8s.plan import Step
from k8s.steps import StepContext, StepError, StepImpl, register

Obj = dict[str, Any]


def _refs(ns: Obj) -> list[Obj]:
    return list((ns.get("metadata") or {}).get("ownerReferences") or [])


def is_workspace_ref(ref: Obj) -> bool:
    return str(ref.get("apiVersion", "")).startswith("tenant.kubesphere.io/") and ref.get(
        "kind"
    ) in ("Workspace", "WorkspaceTemplate")


def is_unbound(ns: Obj) -> bool:
    return LABEL_WORKSPACE not in labels_of(ns) and not any(is_workspace_ref(r) for r in _refs(ns))


def namespaces_by_name(api: ClusterApi, names: list[str]) -> dict[str, Obj]:
    """One list instead of a GET per namespace: steps touch hundreds of them."""
    wanted = set(names)
    return {
        str(ns["metadata"]["name"]): ns
        for ns in api.list_namespaces()
        if ns["metadata"]["name"] in wanted
    }


def _patch_with_retry(api: ClusterApi, ns: Obj, build: Any) -> None:
    """Merge-patch guarded by resourceVersion; on a conflict re-read and rebuild once or twice."""
    name = str(ns["metadata"]["name"])
    for _ in range(3):
        patch = build(ns)
        if patch is None:
            return
        patch.setdefault("metadata", {})["resourceVersion"] = ns["metadata"]["resourceVersion"]
        try:
            api.patch_namespace(name, patch)
            return
        except Conflict:
            ns = api.get_namespace(name)
    raise StepError(f"namespace {name} kept changing while the bot updated it")


def unbind_patch(ns: Obj) -> Obj | None:
    if is_unbound(ns):
        return None
    others = [r for r in _refs(ns) if not is_workspace_ref(r)]
    return {"metadata": {"labels": {LABEL_WORKSPACE: None}, "ownerReferences": others or None}}


@register
class UnbindNamespaces(StepImpl):
    kind = "unbind_namespaces"

    def is_done(self, ctx: StepContext, step: Step) -> bool:
        names = list(step.params["namespaces"])
        found = namespaces_by_name(ctx.api(step.cluster), names)
        missing = sorted(set(names) - set(found))
        if missing:
            raise StepError(
                f"kept namespace(s) {', '.join(missing)} no longer exist on {step.cluster}"
            )
        return all(is_unbound(ns) for ns in found.values())

    def apply(self, ctx: StepContext, step: Step) -> str:
        api = ctx.api(step.cluster)
        found = namespaces_by_name(api, list(step.params["namespaces"]))
        todo = sorted(n for n, ns in found.items() if not is_unbound(ns))
        count = ctx.each(todo, lambda n: _patch_with_retry(api, found[n], unbind_patch), "unbound")
        return f"unbound {count} namespace(s) on {step.cluster}"

    def hint(self, step: Step) -> str:
        return (
            f"on {step.cluster}, for each kept namespace: kubectl label ns <ns> "
            f"{LABEL_WORKSPACE}- and kubectl patch ns <ns> --type=merge "
            '-p \'{"metadata":{"ownerReferences":[]}}\', then Retry'
        )


def _workspace_uids(api: ClusterApi, names: set[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in names:
        try:
            ws = api.get_custom(WORKSPACES, name)
        except NotFound:
            continue
        if not (ws.get("metadata") or {}).get("deletionTimestamp"):
            out[name] = str(ws["metadata"]["uid"])
    return out


def _bound_to(ns: Obj, workspace: str, uid: str | None) -> bool:
    if labels_of(ns).get(LABEL_WORKSPACE) != workspace:
        return False
    return uid is not None and any(
        r.get("kind") == "Workspace" and r.get("uid") == uid for r in _refs(ns)
    )


@register
class RebindNamespaces(StepImpl):
    kind = "rebind_namespaces"

    def _state(self, ctx: StepContext, step: Step) -> tuple[dict[str, Obj], dict[str, str]]:
        bindings: dict[str, str] = dict(step.params["bindings"])
        api = ctx.api(step.cluster)
        return namespaces_by_name(api, list(bindings)), _workspace_uids(api, set(bindings.values()))

    def is_done(self, ctx: StepContext, step: Step) -> bool:
        bindings: dict[str, str] = dict(step.params["bindings"])
        found, uids = self._state(ctx, step)
        return all(
            n in found and _bound_to(found[n], ws, uids.get(ws)) for n, ws in bindings.items()
        )

    def apply(self, ctx: StepContext, step: Step) -> str:
        bindings: dict[str, str] = dict(step.params["bindings"])
        api = ctx.api(step.cluster)
        found, uids = self._state(ctx, step)
        missing_ws = sorted(set(bindings.values()) - set(uids))
        if missing_ws:
            raise StepError(f"workspace(s) {', '.join(missing_ws)} do not exist on {step.cluster}")
        missing_ns = sorted(set(bindings) - set(found))
        if missing_ns:
            raise StepError(f"namespace(s) {', '.join(missing_ns)} disappeared from {step.cluster}")
        todo = sorted(
            n for n, ws in bindings.items() if labels_of(found[n]).get(LABEL_WORKSPACE) != ws
        )

        def label(name: str) -> None:
            ws = bindings[name]
            _patch_with_retry(
                api,
                found[name],
                lambda ns: (
                    None
                    if labels_of(ns).get(LABEL_WORKSPACE) == ws
                    else {"metadata": {"labels": {LABEL_WORKSPACE: ws}}}
                ),
            )

        ctx.each(todo, label, "labelled")
        ctx.wait_until(
            f"KubeSphere to bind {len(bindings)} namespace(s) to their workspace on {step.cluster}",
            lambda: self.is_done(ctx, step),
        )
        return f"bound {len(bindings)} namespace(s) on {step.cluster}"

    def hint(self, step: Step) -> str:
        return (
            f"on {step.cluster}: kubectl label ns <ns> {LABEL_WORKSPACE}=<workspace> --overwrite "
            "for each kept namespace, then Retry"
        )
