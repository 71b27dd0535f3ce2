"""Workspace steps: release the member from the old host's workspaces, delete them on the member,
and create or extend the workspace on the new host.

Before anything that deletes a workspace, the namespaces bound to it are compared with the
approved plan: a namespace bound after approval stops the step instead of being deleted.
"""

from __future__ import annotations

import contextlib
from typing import Any

from k8s.access import WORKSPACE_TEMPLATES, WORKSPACES, ClusterApi
from k8s.errors import NotFound
from k8s.plan import Step
from k8s.steps import StepContext, StepError, StepImpl, created_by_us, register
from k8s.steps.namespaces import WORKSPACE_LABEL, is_workspace_ref

Obj = dict[str, Any]


def _get(api: ClusterApi, res: Any, name: str) -> Obj | None:
    try:
        return api.get_custom(res, name)
    except NotFound:
        return None


def _placement(tmpl: Obj) -> list[str] | None:
    clusters = ((tmpl.get("spec") or {}).get("placement") or {}).get("clusters")
    if clusters is None:
        return None
    return [str(c.get("name")) for c in clusters]


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
        if labels.get(WORKSPACE_LABEL) in workspaces or owned:
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
    it (KubeSphere does not do this on unbind, kubesphere#3084)."""

    kind = "remove_placement"

    def _pending(self, ctx: StepContext, step: Step) -> list[tuple[str, Obj]]:
        api = ctx.api(step.cluster)
        member = str(step.params["member"])
        out = []
        for ws in step.params["workspaces"]:
            tmpl = _get(api, WORKSPACE_TEMPLATES, str(ws))
            placement = _placement(tmpl) if tmpl else None
            if tmpl is not None and placement is not None and member in placement:
                out.append((str(ws), tmpl))
        return out

    def is_done(self, ctx: StepContext, step: Step) -> bool:
        return not self._pending(ctx, step)

    def apply(self, ctx: StepContext, step: Step) -> str:
        member = str(step.params["member"])
        pending = self._pending(ctx, step)
        if pending:
            assert_only_planned_deletions(ctx, member, list(step.params["workspaces"]))
        api = ctx.api(step.cluster)
        for ws, tmpl in pending:
            rest = [{"name": c} for c in (_placement(tmpl) or []) if c != member]
            api.patch_custom(
                WORKSPACE_TEMPLATES,
                ws,
                {
                    "metadata": {"resourceVersion": tmpl["metadata"]["resourceVersion"]},
                    "spec": {"placement": {"clusters": rest}},
                },
            )
        return f"removed {member} from {len(pending)} workspace placement(s) on {step.cluster}"

    def hint(self, step: Step) -> str:
        return (
            f"on {step.cluster}: edit each workspacetemplate and remove {step.params['member']} "
            "from spec.placement.clusters, then Retry"
        )


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
            manager = step.params.get("manager") or "admin"
            with created_by_us():
                api.create_custom(
                    WORKSPACE_TEMPLATES,
                    {
                        "apiVersion": WORKSPACE_TEMPLATES.api_version,
                        "kind": "WorkspaceTemplate",
                        "metadata": {"name": name},
                        "spec": {
                            "template": {"spec": {"manager": manager}},
                            "placement": {"clusters": [{"name": member}]},
                        },
                    },
                    idempotent=True,
                )
            what = f"created workspace {name} on {step.cluster}"
        else:
            placement = _placement(tmpl) or []
            if member not in placement:
                api.patch_custom(
                    WORKSPACE_TEMPLATES,
                    name,
                    {
                        "metadata": {"resourceVersion": tmpl["metadata"]["resourceVersion"]},
                        "spec": {
                            "placement": {"clusters": [{"name": c} for c in [*placement, member]]}
                        },
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
