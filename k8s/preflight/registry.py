"""The checks preflight runs, in the order a reader wants them: can we reach and trust the
clusters, where is the member now, what happens to its projects."""

from __future__ import annotations

from k8s.preflight import Check, clusters, fleet, projects

CHECKS: tuple[Check, ...] = (
    clusters.reachable,
    clusters.distinct,
    clusters.kubesphere_version,
    fleet.versions,
    clusters.roles,
    clusters.binding,
    fleet.manager,
    fleet.connection,
    clusters.name_on_target,
    clusters.jwt_secret,
    clusters.lock,
    projects.kept_namespaces,
    projects.data_loss,
    fleet.consequences,
    projects.left_behind,
    projects.workspace_conflicts,
    projects.components,
    projects.accounts,
    projects.federation_leftovers,
)
