"""`status <cluster>` says why a host's Cluster object was matched by name rather than by the
member's kube-system UID: the member could not be read, or the object has not joined yet."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from handlers.render_fleet import render_cluster_status
from k8s import fleet
from k8s.facts import ClusterFacts, ClusterObjectInfo

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
UNREADABLE = "(matched by name: the cluster could not be read)"
UNJOINED = "(matched by name: it has not joined yet)"
WHYS = (UNREADABLE, UNJOINED)


def _host(uid_claimed: str | None) -> ClusterFacts:
    return ClusterFacts(
        "host-a",
        reachable=True,
        kube_system_uid="ks-host-a",
        ks_version="v3.4.1",
        ks_major=3,
        cluster_role="host",
        cluster_objects=(
            ClusterObjectInfo("host-a", "ks-host-a", True, "", is_host_itself=True),
            ClusterObjectInfo("member-a", uid_claimed, uid_claimed is not None, "", False),
        ),
    )


def _member(reachable: bool) -> ClusterFacts:
    if not reachable:
        return ClusterFacts("member-a", reachable=False, error="connection refused")
    return ClusterFacts(
        "member-a",
        reachable=True,
        kube_system_uid="ks-member-a",
        ks_version="v3.4.1",
        ks_major=3,
        cluster_role="member",
    )


@pytest.mark.parametrize(
    ("uid_claimed", "member_reachable", "shown"),
    [
        ("ks-member-a", True, None),
        ("ks-member-a", False, UNREADABLE),
        (None, True, UNJOINED),
    ],
)
def test_status_says_why_a_host_was_matched_by_name(
    uid_claimed: str | None, member_reachable: bool, shown: str | None
) -> None:
    facts = {"host-a": _host(uid_claimed), "member-a": _member(member_reachable)}
    view = fleet.build_fleet(facts)
    text = json.dumps(render_cluster_status(view, "member-a", None, NOW).blocks)
    assert "Cluster `member-a`" in text  # the host's object is listed either way
    assert [why for why in WHYS if why in text] == ([shown] if shown else [])
