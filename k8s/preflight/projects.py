"""Project-level checks: the kept namespaces, the data-loss guard, workspace conflicts on the new
host, components and accounts. Nothing is deleted that the approver was not shown by name."""

from __future__ import annotations

import difflib
from collections.abc import Iterator

from k8s.plan import moving_workspaces
from k8s.preflight import CheckResult, Context, Severity
from k8s.spec import SYSTEM_WORKSPACE

OK, INFO, WARN, BLOCK = Severity.OK, Severity.INFO, Severity.WARNING, Severity.BLOCKER


def _listing(names: list[str] | tuple[str, ...], limit: int = 20) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def kept_namespaces(ctx: Context) -> Iterator[CheckResult]:
    m = ctx.member
    if not m.reachable:
        return
    if not ctx.spec.keep and not ctx.spec.keep_all:
        yield CheckResult(
            "kept-namespaces",
            INFO,
            f"no namespace is kept: {m.name} moves without projects",
        )
        return
    known = [n.name for n in m.namespaces]
    problems = 0
    for name in ctx.spec.keep:
        ns = m.namespace(name)
        if ns is None:
            problems += 1
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" — did you mean {close[0]}?" if close else ""
            yield CheckResult(
                "kept-namespaces",
                BLOCK,
                f"namespace {name} does not exist on {m.name}{hint}",
                "fix the keep list",
            )
            continue
        if ns.deleting:
            problems += 1
            yield CheckResult(
                "kept-namespaces", BLOCK, f"namespace {name} on {m.name} is being deleted", ""
            )
        if ns.workspace == SYSTEM_WORKSPACE:
            problems += 1
            yield CheckResult(
                "kept-namespaces",
                BLOCK,
                f"namespace {name} belongs to {SYSTEM_WORKSPACE}, which never moves",
                f"remove {name} from the keep list",
            )
        elif not ns.workspace:
            yield CheckResult(
                "kept-namespaces",
                INFO,
                f"namespace {name} is in no workspace; it stays on {m.name} as it is",
            )
        elif m.workspace(ns.workspace) is None:
            yield CheckResult(
                "kept-namespaces",
                WARN,
                f"namespace {name} is labelled for workspace {ns.workspace}, which does not "
                f"exist on {m.name}",
            )
        if ns.kubefed_managed:
            yield CheckResult(
                "kept-namespaces",
                WARN,
                f"namespace {name} is a multi-cluster project (kubefed.io/managed=true): "
                "KubeSphere's controllers will not re-bind it, and its old host may remove it",
                "convert it to a single-cluster project first",
            )
        if ns.foreign_owners:
            owners = ", ".join(f"{o.kind}/{o.name}" for o in ns.foreign_owners)
            yield CheckResult(
                "kept-namespaces",
                WARN,
                f"namespace {name} has other owners ({owners}); garbage collection follows them",
            )
    if problems == 0:
        kept = moving_keep(ctx)
        yield CheckResult(
            "kept-namespaces",
            OK,
            f"{len(kept)} namespace(s) will be kept and re-bound: {_listing(kept)}"
            if kept
            else "the kept namespaces exist",
        )


def moving_keep(ctx: Context) -> list[str]:
    moving = moving_workspaces(ctx.spec, ctx.member)
    if ctx.spec.keep_all:
        return sorted(n.name for n in ctx.member.namespaces if n.workspace in moving)
    return sorted(ctx.spec.keep)


def data_loss(ctx: Context) -> Iterator[CheckResult]:
    """Every namespace the plan would delete must be named in `discard` (or `keep all`)."""
    m = ctx.member
    if not m.reachable:
        return
    moving = moving_workspaces(ctx.spec, m)
    kept = set(moving_keep(ctx))
    doomed = sorted(n.name for n in m.namespaces if n.workspace in moving and n.name not in kept)
    unnamed = [n for n in doomed if n not in ctx.spec.discard]
    if unnamed:
        yield CheckResult(
            "data-loss",
            BLOCK,
            f"deleting workspace(s) {_listing(sorted(moving))} on {m.name} would also delete "
            f"namespace(s) {_listing(unnamed)}",
            f"keep them (keep …,{','.join(unnamed[:5])}), say keep all, or confirm with "
            f"discard {','.join(unnamed[:5])}",
        )
    stray = sorted(set(ctx.spec.discard) - set(doomed))
    if stray:
        yield CheckResult(
            "data-loss",
            BLOCK,
            f"discard names {_listing(stray)}, which the plan would not delete",
            "discard only namespaces of the workspaces that are removed",
        )
    if doomed and not unnamed and not stray:
        yield CheckResult(
            "data-loss",
            WARN,
            f"namespace(s) {_listing(doomed)} will be DELETED with their workspace, as requested",
        )
    elif not doomed and not stray:
        yield CheckResult("data-loss", OK, "no namespace will be deleted")


def left_behind(ctx: Context) -> Iterator[CheckResult]:
    """Host-managed workspaces that do not move stay on the member with nobody managing them."""
    m = ctx.member
    if not m.reachable:
        return
    moving = moving_workspaces(ctx.spec, m)
    for ws in m.workspaces:
        if ws.kubefed_managed and ws.name not in moving and ws.name != SYSTEM_WORKSPACE:
            projects = [n.name for n in m.namespaces_in(ws.name)]
            yield CheckResult(
                "left-behind",
                WARN,
                f"workspace {ws.name} (projects: {_listing(projects) or 'none'}) stays on {m.name} "
                "but no host will manage it after the move",
                f"keep its projects too, or remove {ws.name} from {m.name} afterwards",
            )


def workspace_conflicts(ctx: Context) -> Iterator[CheckResult]:
    m, t = ctx.member, ctx.target
    if not (m.reachable and t.reachable and t.multicluster_enabled):
        return
    moving = moving_workspaces(ctx.spec, m)
    fed = {f.name: f for f in t.federated_workspaces}
    for ws in m.workspaces:
        if not ws.kubefed_managed or ws.name in moving:
            continue  # moving workspaces are deleted on the member before the join
        f = fed.get(ws.name)
        if (
            f is not None
            and f.placement_clusters is not None
            and m.name not in f.placement_clusters
        ):
            yield CheckResult(
                "workspace-conflict",
                BLOCK,
                f"workspace {ws.name} exists on {m.name} and on {t.name} without {m.name} in its "
                f"placement: KubeSphere refuses the join",
                f"keep {ws.name}'s projects in this migration, or delete workspace {ws.name} on "
                f"{m.name} first",
            )
    for target in sorted(set(moving.values())):
        tmpl = t.template(target)
        if tmpl is None:
            yield CheckResult(
                "target-workspace", INFO, f"workspace {target} will be created on {t.name}"
            )
        elif tmpl.deleting:
            yield CheckResult(
                "target-workspace", BLOCK, f"workspace {target} on {t.name} is being deleted", ""
            )
        elif tmpl.placement_clusters is None:
            yield CheckResult(
                "target-workspace",
                WARN,
                f"workspace {target} on {t.name} places clusters by selector; {m.name} will be "
                "added to an explicit cluster list",
            )
        else:
            yield CheckResult(
                "target-workspace",
                INFO,
                f"{m.name} will be added to the placement of existing workspace {target} on "
                f"{t.name}",
            )


def components(ctx: Context) -> Iterator[CheckResult]:
    m, t = ctx.member, ctx.target
    if not (m.reachable and t.reachable) or not m.components or not t.components:
        return
    mine, theirs = m.component_map(), t.component_map()
    # the App Store only needs enabling on the host
    only_member = sorted(k for k, v in mine.items() if v and not theirs.get(k) and k != "appstore")
    only_host = sorted(k for k, v in theirs.items() if v and not mine.get(k) and k != "appstore")
    if only_member:
        yield CheckResult(
            "components",
            WARN,
            f"enabled on {m.name} but not on {t.name}: {', '.join(only_member)}",
            f"enable them on {t.name} to keep these features in the console",
        )
    if only_host:
        yield CheckResult(
            "components",
            WARN,
            f"enabled on {t.name} but not on {m.name}: {', '.join(only_host)}; those features "
            f"will not work for {m.name}",
            f"enable them on {m.name} (ks-installer) if its projects need them",
        )
    if not only_member and not only_host:
        yield CheckResult("components", OK, f"{m.name} and {t.name} enable the same components")


def accounts(ctx: Context) -> Iterator[CheckResult]:
    m, t = ctx.member, ctx.target
    old = ctx.old_host()
    if old is None or not old.reachable or not t.reachable:
        return
    moving = set(moving_workspaces(ctx.spec, m))
    users = sorted({b.user for b in old.role_bindings if b.workspace in moving} - set(t.users))
    if users:
        yield CheckResult(
            "accounts",
            WARN,
            f"user(s) {_listing(users)} have roles in the moving workspace(s) on {old.name} but "
            f"do not exist on {t.name}: they lose access until invited",
            f"create the accounts on {t.name} and invite them to the workspace",
        )
    elif moving:
        yield CheckResult(
            "accounts", OK, f"every user of the moving workspace(s) exists on {t.name}"
        )


def federation_leftovers(ctx: Context) -> Iterator[CheckResult]:
    m = ctx.member
    if not m.reachable:
        return
    # a join under another name leaves that identity's service account behind
    foreign = [
        x
        for x in m.federation_leftovers
        if x.startswith("serviceaccount ") and not x.endswith(f"/{m.name}-kubesphere")
    ]
    if foreign:
        yield CheckResult(
            "leftovers",
            WARN,
            f"{m.name} holds federation objects from another identity: {_listing(foreign)}",
            "remove them after the migration if they are stale",
        )
