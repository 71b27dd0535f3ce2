"""The consequence model: what every controller will do, on every cluster, because of a plan.

Preflight used to reason about the member's own namespaces only. On a real fleet a plan's writes
set off controllers elsewhere: the old host's and the new host's KubeFed create and delete the
objects their federated types place (kubefed `pkg/controller/sync/controller.go`), deleting a
workspace lets garbage collection take its namespaces and KubeSphere's finalizers uninstall its
applications (`pkg/controller/workspacetemplate/workspacetemplate_controller.go`), and an unbind
strands what the old host pushed. This module predicts all of it from the gathered facts, as
data the approver reads by cluster and by name; preflight blocks on every deletion the request
did not ask for. This module is the model; `k8s/predict.py` holds the rules. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from k8s.facts import ClusterFacts


class Action(StrEnum):
    CREATE = "create"
    DELETE = "delete"
    UNINSTALL = "uninstall"  # an application release's charts are removed
    TAKE_OVER = "take over"  # an existing object becomes managed by the new host
    LEAVE = "left unmanaged"  # stays, with no host managing it any more
    CHANGE = "change"


DESTRUCTIVE = (Action.DELETE, Action.UNINSTALL)
NOTIFICATION_CLEANUP = "notification.kubesphere.io/cleanup"

# Names a user reads; the API kinds stay in `kind` for tests and the audit log.
KIND_WORDS = {
    "Namespace": "namespace",
    "MultiClusterNamespace": "multi-cluster project",
    "Workspace": "workspace",
    "WorkspaceTemplate": "workspace template",
    "HelmRelease": "application release",
    "WorkspaceRoleBinding": "workspace role binding",
    "WorkspaceRole": "workspace role",
    "GlobalRoleBinding": "global role binding",
    "GlobalRole": "global role",
    "User": "user",
    "Group": "group",
    "GroupBinding": "group binding",
    "ServiceAccount": "service account",
    "Cluster": "cluster",
    "NotificationSettings": "notification settings:",
}


@dataclass(frozen=True)
class Consequence:
    cluster: str
    action: Action
    kind: str
    name: str
    cause: str  # which controller does it, and why
    requested: bool = False  # the command asked for it (discard, the moving workspace itself)

    @property
    def blocks(self) -> bool:
        return self.action in DESTRUCTIVE and not self.requested

    def words(self) -> str:
        return f"{KIND_WORDS.get(self.kind, self.kind)} {self.name}"

    def to_json(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "action": self.action.value,
            "kind": self.kind,
            "name": self.name,
            "cause": self.cause,
            "requested": self.requested,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Consequence:
        return cls(
            str(data["cluster"]),
            Action(data["action"]),
            str(data["kind"]),
            str(data["name"]),
            str(data["cause"]),
            bool(data.get("requested")),
        )


@dataclass(frozen=True)
class Writes:
    """The plan's own writes that set controllers off (what `build_plan` decided)."""

    moving: Mapping[str, str]  # member workspace → target workspace
    keep: tuple[str, ...]
    old_placements: Mapping[str, tuple[str, ...]]  # old host template → its new cluster list
    target_placements: Mapping[str, tuple[str, ...]]  # new host template → its new cluster list
    created_templates: tuple[str, ...]
    join_labels: Mapping[str, str]
    credential: str | None  # the service account made on the member for the new host
    revoked: str | None  # the old host's ksmc-made credential, deleted on unbind


def joined(host: ClusterFacts) -> dict[str, dict[str, str]]:
    """Joined clusters → labels as the host's KubeFed matches them: the KubeFedClusters, which
    KubeSphere labels like their Cluster objects (`pkg/controller/cluster/join.go`)."""
    found = host.joined_labels()
    for obj in host.cluster_objects:
        if obj.name not in found and obj.ready and not obj.deleting:
            found[obj.name] = dict(obj.labels)
    return found
