"""Workspace steps: release the member from the old host's workspaces, delete them on the member,
and create or extend the workspace on the new host.

Before anything that deletes a workspace, the namespaces bound to it are compared with the
approved plan: a namespace bound after approval stops the step instead of being deleted.
"""

from __future__ import annotations

import contextlib
from typing import Any

from k8s import placement
from k8s.access import ClusterApi
from k8s.errors import NotFound
from k8s.kinds import WORKSPACE_TEMPLATES, WORKSPACES
from k8s.parse import LABEL_WORKSPACE
from k8s.plan import Step
from k8s.steps import StepContext, StepError, StepImpl, created_by_us, register
from k8s.steps.namespaces import is_workspace_ref

Obj = dict[str, Any]


def _get(api: ClusterApi, res: Any, name: str) -> Obj | None:
    try:
        return api.get_custom(res, name)
    except NotFound:
        return None


def _placement(tmpl: Obj) -> list[str] | None:
    clusters = placement.of(tmpl).clusters
    return None if clusters is None else list(clusters)


def assert_only_planned_deletions(ctx: StepContext, member: str, workspaces: list[str]) -> None:
    """The data-loss guard at execution time: the doomed set must be exactly the approved one."""
    plan = ctx.plan
    allowed = set(plan.delete)
    bound: list[str] = []
    for ns in ctx.api(member).list_namespaces():
        md = ns["metadata"]
        labels = md.get("labels") or {}
        owned = any(
            is_workspace_ref(r) and r.get("name") in workspaces
            for r in md.get("ownerReferences") or []
        )
        if labels.get(LABEL_WORKSPACE) in workspaces or owned:
            bound.append(str(md["name"]))
    kept = sorted(set(bound) & set(plan.keep))
    if kept:
        raise StepError(
            f"kept namespace(s) {', '.join(kept)} are still bound to {', '.join(workspaces)} on "
            f"{member}; refusing to delete the workspace"
        )
    surprise = sorted(set(bound) - allowed)
    if surprise:
        raise StepError(
            f"namespace(s) {', '.join(surprise)} were bound to {', '.join(workspaces)} on {member} "
            "after approval and would be deleted; refusing (run a new preflight)"
        )


@register
class RemovePlacement(StepImpl):
    """Take the member out of the old host's WorkspaceTemplates, so the old host no longer claims
    it (KubeSphere does not do this on unbind, kubesphere#3084). Each template gets the explicit
    cluster list the approver saw: the clusters it selected without the member, so a selector
    placement keeps every other cluster it selects (KubeFed lets a list override a selector)."""

    kind = "remove_placement"

    def _pending(self, ctx: StepContext, step: Step) -> list[tuple[str, Obj, list[str]]]:
        api = ctx.api(step.cluster)
        member = str(step.params["member"])
        wanted = _wanted(step)
        out = []
        for ws in step.params["workspaces"]:
            tmpl = _get(api, WORKSPACE_TEMPLATES, str(ws))
            if tmpl is None:
                continue
            current = placement.of(tmpl)
            target = wanted.get(str(ws))
            if target is None:  # a plan from before placements were recorded
                if current.clusters is not None and member in current.clusters:
                    out.append((str(ws), tmpl, [c for c in current.clusters if c != member]))
            elif current != placement.Placement(clusters=tuple(target)):
                out.append((str(ws), tmpl, target))
        return out

    def is_done(self, ctx: StepContext, step: Step) -> bool:
        return not self._pending(ctx, step)

    def apply(self, ctx: StepContext, step: Step) -> str:
        member = str(step.params["member"])
        pending = self._pending(ctx, step)
        if pending:
            assert_only_planned_deletions(ctx, member, list(step.params["workspaces"]))
        api = ctx.api(step.cluster)
        for ws, tmpl, clusters in pending:
            api.patch_custom(
                WORKSPACE_TEMPLATES,
                ws,
                {
                    "metadata": {"resourceVersion": tmpl["metadata"]["resourceVersion"]},
                    "spec": {"placement": placement.exactly(clusters)},
                },
            )
        return f"removed {member} from {len(pending)} workspace placement(s) on {step.cluster}"

    def hint(self, step: Step) -> str:
        return (
            f"on {step.cluster}: edit each workspacetemplate and remove {step.params['member']} "
            "from spec.placement.clusters, then Retry"
        )


def _wanted(step: Step) -> dict[str, list[str]]:
    raw = step.params.get("placements") or {}
    return {str(ws): [str(c) for c in clusters] for ws, clusters in raw.items()}


@register
class DeleteWorkspaces(StepImpl):
    kind = "delete_workspaces"

    def _present(self, ctx: StepContext, step: Step) -> list[tuple[Any, Obj]]:
        api = ctx.api(step.cluster)
        out = []
        for ws in step.params["workspaces"]:
            for res in (WORKSPACE_TEMPLATES, WORKSPACES):
                obj = _get(api, res, str(ws))
                if obj is not None:
                    out.append((res, obj))
        return out

    def _discarded_left(self, ctx: StepContext, step: Step) -> list[str]:
        discard = set(step.params.get("discard") or ())
        return sorted(
            str(ns["metadata"]["name"])
            for ns in ctx.api(step.cluster).list_namespaces()
            if ns["metadata"]["name"] in discard
        )

    def is_done(self, ctx: StepContext, step: Step) -> bool:
        return not self._present(ctx, step) and not self._discarded_left(ctx, step)

    def apply(self, ctx: StepContext, step: Step) -> str:
        api = ctx.api(step.cluster)
        workspaces = [str(w) for w in step.params["workspaces"]]
        present = self._present(ctx, step)
        if any(not (obj["metadata"].get("deletionTimestamp")) for _, obj in present):
            assert_only_planned_deletions(ctx, step.cluster, workspaces)
        # a local WorkspaceTemplate owns its Workspace; deleting the template is enough
        templates = {obj["metadata"]["name"] for res, obj in present if res is WORKSPACE_TEMPLATES}
        for res, obj in present:
            md = obj["metadata"]
            if md.get("deletionTimestamp"):
                continue
            if res is WORKSPACES and md["name"] in templates:
                continue
            with contextlib.suppress(NotFound):
                api.delete_custom(
                    res, str(md["name"]), uid=str(md["uid"]), propagation="Background"
                )
        ctx.wait_until(
            f"workspace(s) {', '.join(workspaces)} to disappear from {step.cluster}",
            lambda: not self._present(ctx, step),
        )
        ctx.wait_until(
            f"discarded namespace(s) to be deleted on {step.cluster}",
            lambda: not self._discarded_left(ctx, step),
        )
        gone = len(step.params.get("discard") or ())
        return f"deleted {len(workspaces)} workspace(s) and {gone} discarded namespace(s)"

    def hint(self, step: Step) -> str:
        return (
            f"on {step.cluster}: kubectl get workspaces,workspacetemplates and check what holds "
            "them (finalizers, terminating namespaces), then Retry"
        )


@register
class EnsureWorkspace(StepImpl):
    kind = "ensure_workspace"

    def _member_has_it(self, ctx: StepContext, step: Step) -> bool:
        ws = _get(ctx.api(str(step.params["member"])), WORKSPACES, str(step.params["workspace"]))
        return ws is not None and not ws["metadata"].get("deletionTimestamp")

    def is_done(self, ctx: StepContext, step: Step) -> bool:
        tmpl = _get(ctx.api(step.cluster), WORKSPACE_TEMPLATES, str(step.params["workspace"]))
        if tmpl is None or str(step.params["member"]) not in (_placement(tmpl) or []):
            return False
        return self._member_has_it(ctx, step)

    def apply(self, ctx: StepContext, step: Step) -> str:
        api = ctx.api(step.cluster)
        name, member = str(step.params["workspace"]), str(step.params["member"])
        tmpl = _get(api, WORKSPACE_TEMPLATES, name)
        if tmpl is None:
            with created_by_us():
                api.create_custom(WORKSPACE_TEMPLATES, _new_template(step), idempotent=True)
            what = f"created workspace {name} on {step.cluster}"
        else:
            current = _placement(tmpl)
            # the approved list keeps every cluster the template selected (selector included)
            wanted = [str(c) for c in step.params.get("clusters") or [*(current or []), member]]
            if current is None or member not in current:
                api.patch_custom(
                    WORKSPACE_TEMPLATES,
                    name,
                    {
                        "metadata": {"resourceVersion": tmpl["metadata"]["resourceVersion"]},
                        "spec": {"placement": placement.exactly(wanted)},
                    },
                )
            what = f"added {member} to workspace {name} on {step.cluster}"
        ctx.wait_until(
            f"workspace {name} to appear on {member}", lambda: self._member_has_it(ctx, step)
        )
        return what

    def hint(self, step: Step) -> str:
        return (
            f"on {step.cluster}: check workspacetemplate {step.params['workspace']} and that "
            f"{step.params['member']} is Ready, then Retry"
        )


def _new_template(step: Step) -> Obj:
    """The target template, carrying the old one's manager, network isolation and labels."""
    spec: Obj = {"manager": step.params.get("manager") or "admin"}
    if step.params.get("networkIsolation") is not None:
        spec["networkIsolation"] = bool(step.params["networkIsolation"])
    template: Obj = {"spec": spec}
    labels = step.params.get("labels") or {}
    if labels:
        template["metadata"] = {"labels": dict(labels)}
    clusters = step.params.get("clusters") or [step.params["member"]]
    return {
        "apiVersion": WORKSPACE_TEMPLATES.api_version,
        "kind": "WorkspaceTemplate",
        "metadata": {"name": str(step.params["workspace"])},
        "spec": {
            "template": template,
            "placement": {"clusters": [{"name": str(c)} for c in clusters]},
        },
    }
