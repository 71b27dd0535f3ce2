"""Who a Slack user is, from `users.info` and `usergroups.users.list`, cached briefly.

The short cache keeps a burst of presses from hitting Slack's rate limits. It may only ever
refuse: before a decision grants authority (approve, reject, cancel or retry as an approver) the
service confirms a cached "yes" with `fresh=True`, so a user removed from an approvers group or
deactivated a second ago cannot approve. A user just added to a group may wait out the cache.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.ports import UserInfo

log = logging.getLogger("ksmc.identity")


class SlackIdentity:
    def __init__(
        self, client: WebClient, ttl: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.client = client
        self.ttl = ttl
        self.clock = clock
        self._users: dict[str, tuple[float, UserInfo | None]] = {}
        self._groups: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def user(self, user_id: str, *, fresh: bool = False) -> UserInfo | None:
        with self._lock:
            hit = self._users.get(user_id)
        if not fresh and hit is not None and self.clock() - hit[0] < self.ttl:
            return hit[1]
        try:
            data = self.client.users_info(user=user_id).get("user") or {}
        except SlackApiError as e:
            log.warning("users.info %s failed: %s", user_id, e.response.get("error"))
            return None
        profile = data.get("profile") or {}
        info = UserInfo(
            id=str(data.get("id", user_id)),
            name=str(profile.get("display_name") or data.get("name") or user_id),
            real_name=str(data.get("real_name") or profile.get("real_name") or ""),
            tz=str(data.get("tz") or ""),
            is_bot=bool(data.get("is_bot") or data.get("is_app_user")),
            deleted=bool(data.get("deleted")),
            is_guest=bool(data.get("is_restricted") or data.get("is_ultra_restricted")),
        )
        with self._lock:
            self._users[user_id] = (self.clock(), info)
        return info

    def group_members(self, group_id: str, *, fresh: bool = False) -> frozenset[str]:
        with self._lock:
            hit = self._groups.get(group_id)
        if not fresh and hit is not None and self.clock() - hit[0] < self.ttl:
            return hit[1]
        try:
            users = self.client.usergroups_users_list(usergroup=group_id).get("users") or []
            members = frozenset(str(u) for u in users)
        except SlackApiError as e:
            # free workspaces answer plan_upgrade_required: list user ids in KSMC_APPROVERS then
            log.warning("usergroups.users.list %s failed: %s", group_id, e.response.get("error"))
            members = frozenset()
        with self._lock:
            self._groups[group_id] = (self.clock(), members)
        return members
