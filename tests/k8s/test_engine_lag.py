"""The engine against lagging controllers: every wait in the bot holds when KubeSphere, KubeFed
and garbage collection react late (the simulator's `controllerDelay`), and ks-installer takes
its time to re-render a configuration (`installerDelay`, longer than a step's ordinary wait).

Checked here: the documented migration, and a sync-jwt migration whose installer run outlasts
the ordinary step wait, each ending as on a prompt fleet.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from test_engine_e2e import assert_bound, assert_member_moved, migrate

from k8s.sim import loader

LAG, INSTALLER_LAG = 0.1, 12.0  # seconds; the rig's ordinary step wait is 10 s


def lagging_world(tmp_path: Path) -> str:
    data = loader.read_world("demo")
    data["controllerDelay"], data["installerDelay"] = LAG, INSTALLER_LAG
    path = tmp_path / "lagging.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_the_documented_migration_waits_for_late_controllers(
    engine_factory: Any, tmp_path: Path
) -> None:
    rig = engine_factory(lagging_world(tmp_path))
    before = rig.all_namespaces()
    migrate(rig, keep="ns1,ns2")
    assert_member_moved(rig, "member-a", old="host-a", new="host-b")
    assert_bound(rig, "member-a", "ns1", "team-x")
    assert rig.all_namespaces() == before


def test_sync_jwt_waits_for_a_slow_installer(engine_factory: Any, tmp_path: Path) -> None:
    rig = engine_factory(lagging_world(tmp_path))
    plan, _, sink = migrate(rig, "member-b", "host-a", keep="qa-env", sync_jwt=True)
    index = [s.kind for s in plan.steps].index("sync_jwt")
    assert ("finished", index, "member-b's jwtSecret now matches host-a's") in sink.events
    assert_member_moved(rig, "member-b", old="host-b", new="host-a")
