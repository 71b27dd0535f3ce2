"""The Kubernetes and KubeSphere resource types the bot reads and writes, by API path.

Plain data, no client: preflight, plan and steps name resources with these constants, and only
`k8s/access/` turns them into HTTP calls.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CustomResource:
    group: str
    version: str
    plural: str
    namespaced: bool = False

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"


CLUSTERS = CustomResource("cluster.kubesphere.io", "v1alpha1", "clusters")
WORKSPACES = CustomResource("tenant.kubesphere.io", "v1alpha1", "workspaces")
WORKSPACE_TEMPLATES = CustomResource("tenant.kubesphere.io", "v1alpha2", "workspacetemplates")
FEDERATED_WORKSPACES = CustomResource("types.kubefed.io", "v1beta1", "federatedworkspaces")
CLUSTER_CONFIGURATIONS = CustomResource(
    "installer.kubesphere.io", "v1alpha1", "clusterconfigurations", namespaced=True
)
USERS = CustomResource("iam.kubesphere.io", "v1alpha2", "users")
WORKSPACE_ROLE_BINDINGS = CustomResource("iam.kubesphere.io", "v1alpha2", "workspacerolebindings")
KUBEFED_CLUSTERS = CustomResource("core.kubefed.io", "v1beta1", "kubefedclusters", namespaced=True)
INSTALL_PLANS = CustomResource("kubesphere.io", "v1alpha1", "installplans")
HELM_RELEASES = CustomResource("application.kubesphere.io", "v1alpha1", "helmreleases")


def _fed(plural: str, namespaced: bool = False) -> CustomResource:
    return CustomResource("types.kubefed.io", "v1beta1", plural, namespaced)


# KubeSphere 3.4's federated types (ks-installer's FederatedTypeConfigs) → the kind they push.
# The consequence model reads every one of them: each can create or delete objects on a member.
# Namespaces are read as namespaces (their target is None here).
FEDERATED_TYPES: dict[str, tuple[CustomResource, CustomResource | None]] = {
    "Workspace": (FEDERATED_WORKSPACES, WORKSPACES),
    "Namespace": (_fed("federatednamespaces", namespaced=True), None),
    "User": (_fed("federatedusers"), USERS),
    "GlobalRole": (
        _fed("federatedglobalroles"),
        CustomResource("iam.kubesphere.io", "v1alpha2", "globalroles"),
    ),
    "GlobalRoleBinding": (
        _fed("federatedglobalrolebindings"),
        CustomResource("iam.kubesphere.io", "v1alpha2", "globalrolebindings"),
    ),
    "WorkspaceRole": (
        _fed("federatedworkspaceroles"),
        CustomResource("iam.kubesphere.io", "v1alpha2", "workspaceroles"),
    ),
    "WorkspaceRoleBinding": (_fed("federatedworkspacerolebindings"), WORKSPACE_ROLE_BINDINGS),
    "Group": (
        _fed("federatedgroups"),
        CustomResource("iam.kubesphere.io", "v1alpha2", "groups"),
    ),
    "GroupBinding": (
        _fed("federatedgroupbindings"),
        CustomResource("iam.kubesphere.io", "v1alpha2", "groupbindings"),
    ),
}
