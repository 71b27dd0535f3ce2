"""The steps only a roll back uses: revoke a host's credential, put a placement back as it was,
delete a workspace the migration created, and check that the fleet is as it was before."""

from __future__ import annotations

import contextlib
from typing import Any

from k8s import credentials, placement
from k8s.access import ClusterApi
from k8s.errors import NotFound
from k8s.kinds import CLUSTERS, FEDERATED_TYPES, WORKSPACE_TEMPLATES, WORKSPACES
from k8s.parse import LABEL_WORKSPACE
from k8s.plan import Step
from k8s.steps import StepContext, StepError, StepImpl, register
from k8s.steps.namespaces import is_workspace_ref, namespaces_by_name

Obj = dict[str, Any]


def _get(api: ClusterApi, res: Any, name: str) -> Obj | None:
    try:
        return api.get_custom(res, name)
    except NotFound:
        return None


def _live(obj: Obj | None) -> bool:
    return obj is not None and not (obj.get("metadata") or {}).get("deletionTimestamp")


@register
class RevokeCredential(StepImpl):
    kind = "revoke_credential"

    def is_done(self, ctx: StepContext, step: Step) -> bool:
        return not credentials.exists(ctx.api(step.cluster), str(step.params["host"]))

    def apply(self, ctx: StepContext, step: Step) -> str:
        credentials.revoke(ctx.api(step.cluster), str(step.params["host"]))
        return f"{step.params['host']}'s credential on {step.cluster} revoked"


@register
class RestorePlacement(StepImpl):
    """Write each template's placement back as it was (a selector comes back as a selector),
    then wait for KubeFed to put the member's workspace back (or take it away)."""

    kind = "restore_placement"

    def _differs(self, ctx: StepContext, step: Step) -> list[tuple[str, Obj, Obj]]:
        api = ctx.api(step.cluster)
        out = []
        for ws, previous in (step.params.get("placements") or {}).items():
            tmpl = _get(api, WORKSPACE_TEMPLATES, str(ws))
            if tmpl is None:
                raise StepError(f"workspace template {ws} is gone from {step.cluster}")
            if placement.of(tmpl) != placement.parse(previous):
                out.append((str(ws), tmpl, dict(previous)))
        return out

    def _member_state_ok(self, ctx: StepContext, step: Step) -> bool:
        member = ctx.api(str(step.params["member"]))
        want = step.params.get("expect") == "present"
        return all(
            _live(_get(member, WORKSPACES, str(ws))) is want for ws in step.params["placements"]
        )

    def is_done(self, ctx: StepContext, step: Step) -> bool:
        return not self._differs(ctx, step) and self._member_state_ok(ctx, step)

    def apply(self, ctx: StepContext, step: Step) -> str:
        api = ctx.api(step.cluster)
        for ws, tmpl, previous in self._differs(ctx, step):
            patch_placement = {"clusters": None, "clusterSelector": None, **previous}
            api.patch_custom(
                WORKSPACE_TEMPLATES,
                ws,
                {
                    "metadata": {"resourceVersion": tmpl["metadata"]["resourceVersion"]},
                    "spec": {"placement": patch_placement},
                },
            )
        names = ", ".join(sorted(step.params["placements"]))
        where = "back on" if step.params.get("expect") == "present" else "gone from"
        ctx.wait_until(
            f"workspace(s) {names} to be {where} {step.params['member']}",
            lambda: self._member_state_ok(ctx, step),
        )
        return f"placement of {names} on {step.cluster} restored"


@register
class DeleteWorkspaceTemplate(StepImpl):
    kind = "delete_workspace_template"

    def is_done(self, ctx: StepContext, step: Step) -> bool:
        ws = str(step.params["workspace"])
        return _get(ctx.api(step.cluster), WORKSPACE_TEMPLATES, ws) is None and not _live(
            _get(ctx.api(str(step.params["member"])), WORKSPACES, ws)
        )

    def apply(self, ctx: StepContext, step: Step) -> str:
        ws, member = str(step.params["workspace"]), str(step.params["member"])
        # its Workspace on the member takes every namespace still bound to it along
        bound = [
            str(ns["metadata"]["name"])
            for ns in ctx.api(member).list_namespaces(label_selector=f"{LABEL_WORKSPACE}={ws}")
        ]
        if bound:
            raise StepError(
                f"namespace(s) {', '.join(sorted(bound))} on {member} are bound to {ws}; "
                "refusing to delete it"
            )
        api = ctx.api(step.cluster)
        tmpl = _get(api, WORKSPACE_TEMPLATES, ws)
        if _live(tmpl):
            assert tmpl is not None
            with contextlib.suppress(NotFound):
                api.delete_custom(WORKSPACE_TEMPLATES, ws, uid=str(tmpl["metadata"]["uid"]))
        ctx.wait_until(
            f"workspace {ws} to disappear from {step.cluster} and {member}",
            lambda: self.is_done(ctx, step),
        )
        return f"workspace {ws} deleted on {step.cluster}"


MANAGED = "kubefed.io/managed"


def _pushed_resource(kind: str) -> Any:
    if kind == "MultiClusterNamespace":
        return None  # a namespace: deleted through the namespace API
    fed = FEDERATED_TYPES.get(kind)
    return fed[1] if fed else None


@register
class RemovePushed(StepImpl):
    """Delete, on the member, the kubefed-managed objects the new host pushed at the join (only
    those still labelled managed: something that existed before was taken over, not created)."""

    kind = "remove_pushed"

    def _left(self, ctx: StepContext, step: Step) -> list[tuple[str, str]]:
        api = ctx.api(step.cluster)
        left = []
        for kind, name in step.params.get("objects") or []:
            res = _pushed_resource(str(kind))
            try:
                if kind == "MultiClusterNamespace":
                    obj = api.get_namespace(str(name))
                elif res is not None:
                    obj = api.get_custom(res, str(name))
                else:
                    continue
            except NotFound:
                continue
            labels = (obj.get("metadata") or {}).get("labels") or {}
            if labels.get(MANAGED) == "true" and _live(obj):
                left.append((str(kind), str(name)))
        return left

    def is_done(self, ctx: StepContext, step: Step) -> bool:
        return not self._left(ctx, step)

    def apply(self, ctx: StepContext, step: Step) -> str:
        api = ctx.api(step.cluster)
        left = self._left(ctx, step)
        for kind, name in left:
            with contextlib.suppress(NotFound):
                if kind == "MultiClusterNamespace":
                    api.delete_namespace(name)
                else:
                    api.delete_custom(_pushed_resource(kind), name)
        ctx.wait_until(
            f"what {step.params.get('host')} pushed to disappear from {step.cluster}",
            lambda: self.is_done(ctx, step),
        )
        return f"removed {len(left)} object(s) {step.params.get('host')} had pushed"


@register
class Manual(StepImpl):
    """Something a roll back cannot do by itself: shown, never blocking."""

    kind = "manual"

    def is_done(self, ctx: StepContext, step: Step) -> bool:
        return False

    def apply(self, ctx: StepContext, step: Step) -> str:
        return "needs a person: " + step.title


@register
class VerifyRollback(StepImpl):
    kind = "verify_rollback"

    def _problems(self, ctx: StepContext, step: Step) -> list[str]:
        member, old, new = (
            str(step.params["member"]),
            step.params.get("old_host"),
            str(step.params["new_host"]),
        )
        problems: list[str] = []
        if _get(ctx.api(new), CLUSTERS, member) is not None:
            problems.append(f"{member} is still registered on {new}")
        if old:
            obj = _get(ctx.api(str(old)), CLUSTERS, member)
            ready = obj is not None and any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in (obj.get("status") or {}).get("conditions") or []
            )
            if not ready:
                problems.append(f"{member} is not Ready on {old}")
        bindings: dict[str, str] = dict(step.params.get("bindings") or {})
        api = ctx.api(member)
        found = namespaces_by_name(api, list(bindings))
        for name, ws in sorted(bindings.items()):
            ns = found.get(name)
            if ns is None:
                problems.append(f"namespace {name} is missing on {member}")
                continue
            labels = ns["metadata"].get("labels") or {}
            workspace = _get(api, WORKSPACES, ws)
            refs = [r for r in ns["metadata"].get("ownerReferences") or [] if is_workspace_ref(r)]
            if labels.get(LABEL_WORKSPACE) != ws or workspace is None:
                problems.append(f"namespace {name} is not back in workspace {ws}")
            elif not any(r.get("uid") == workspace["metadata"]["uid"] for r in refs):
                problems.append(f"namespace {name} is not owned by workspace {ws} yet")
        return problems

    def is_done(self, ctx: StepContext, step: Step) -> bool:
        return False

    def apply(self, ctx: StepContext, step: Step) -> str:
        problems: list[str] = []

        def settled() -> bool:
            problems[:] = self._problems(ctx, step)
            return not problems

        try:
            ctx.wait_until("the fleet to be as it was", settled, timeout=min(ctx.wait_timeout, 30))
        except StepError:
            raise StepError("; ".join(problems)) from None
        gone = step.params.get("discarded") or []
        note = f" ({len(gone)} discarded namespace(s) stay deleted)" if gone else ""
        return f"{step.params['member']} is back as it was before the migration{note}"
