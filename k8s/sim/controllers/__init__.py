"""KubeSphere 3.x controller behaviours reproduced by the simulator, one module per controller."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from k8s.sim.world import Controller


def all_controllers() -> list[Controller]:
    from k8s.sim.controllers.accounts import AccountFederation
    from k8s.sim.controllers.agent import TowerController
    from k8s.sim.controllers.cluster import ClusterController
    from k8s.sim.controllers.installer import InstallerController
    from k8s.sim.controllers.kubefed import sync_controllers
    from k8s.sim.controllers.namespaces import NamespaceController, WorkspaceController
    from k8s.sim.controllers.openpitrix import HelmReleaseController
    from k8s.sim.controllers.tenant import TenantOwnership
    from k8s.sim.controllers.tokens import TokenController
    from k8s.sim.controllers.workspaces import WorkspaceTemplateController
    from k8s.sim.timing import GarbageCollector

    return [
        InstallerController(),
        TokenController(),
        TowerController(),
        ClusterController(),
        WorkspaceTemplateController(),
        *sync_controllers(),
        WorkspaceController(),
        NamespaceController(),
        AccountFederation(),
        HelmReleaseController(),
        TenantOwnership(),
        GarbageCollector(),
    ]
