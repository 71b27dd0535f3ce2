"""The interfaces the application needs from the outside: who a Slack user is, how to show a
request, and when to run something later. Slack and the console implement them; tests too."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.snapshot import RequestSnapshot


@dataclass(frozen=True)
class UserInfo:
    id: str
    name: str
    real_name: str = ""
    tz: str = ""
    is_bot: bool = False
    deleted: bool = False
    is_guest: bool = False


class Identity(Protocol):
    """Who a Slack user is. Answers may come from a short cache; `fresh=True` asks Slack now,
    which the service does before any decision that grants authority (a cached answer may only
    ever refuse)."""

    def user(self, user_id: str, *, fresh: bool = False) -> UserInfo | None: ...

    def group_members(self, group_id: str, *, fresh: bool = False) -> frozenset[str]: ...


class Notifier(Protocol):
    def request_changed(self, snap: RequestSnapshot) -> None:
        """Show the request's current state (post its message the first time, then edit it)."""

    def step_failed(self, snap: RequestSnapshot, index: int) -> None: ...

    def finished(self, snap: RequestSnapshot) -> None: ...

    def remind(self, snap: RequestSnapshot, approvers: tuple[str, ...]) -> None: ...
