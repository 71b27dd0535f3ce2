"""Who may do what: the policy's lists and groups, and Slack's word on the person now."""

from __future__ import annotations

from bot.audit import Actor
from bot.ports import UserInfo
from bot.service.core import ServiceCore
from bot.snapshot import RequestSnapshot


class People(ServiceCore):
    def who(self, user_id: str) -> tuple[UserInfo | None, Actor]:
        """The Slack user behind an id, and how the audit log names them."""
        person = self.identity.user(user_id)
        return person, Actor(user_id, person.name if person else user_id)

    def may_request(self, user_id: str) -> bool:
        """Checked like an approval: a cached "yes" from a requesters group is confirmed."""
        return not self.policy.requesters or self._in(user_id, self.policy.requesters, confirm=True)

    def _in(self, user_id: str, allowed: tuple[str, ...], *, confirm: bool = False) -> bool:
        """Whether `user_id` is listed in `allowed` or is in one of its user groups. With
        `confirm`, a membership the cache says yes to is read again from Slack: decisions that
        grant authority never rest on a cached answer (a cached "no" may refuse)."""
        if user_id in allowed:
            return True
        for group in (g for g in allowed if g.startswith("S")):
            if user_id in self.identity.group_members(group) and (
                not confirm or user_id in self.identity.group_members(group, fresh=True)
            ):
                return True
        return False

    def _eligible(self, user_id: str, cached: UserInfo | None) -> UserInfo | None:
        """The user as Slack describes them now, if they may decide: not a bot, a guest or a
        deactivated account. A cached answer may refuse; an allowing one is confirmed."""

        def fit(person: UserInfo | None) -> bool:
            return person is not None and not (person.deleted or person.is_bot or person.is_guest)

        if not fit(cached):
            return None
        now = self.identity.user(user_id, fresh=True)
        return now if fit(now) else None

    def eligible_approvers(self, snap: RequestSnapshot) -> tuple[str, ...]:
        """The people who could approve `snap` now: listed directly or through a group, not the
        requester, not already approved, not a bot, guest or deactivated account."""
        done = {a.user_id for a in snap.approvals}
        people: list[str] = []
        for entry in self.policy.approvers:
            members = (
                sorted(self.identity.group_members(entry)) if entry.startswith("S") else [entry]
            )
            people.extend(m for m in members if m not in people)
        out = []
        for user_id in people:
            if user_id == snap.requester_id or user_id in done:
                continue
            person = self.identity.user(user_id)
            if person is not None and not (person.deleted or person.is_bot or person.is_guest):
                out.append(user_id)
        return tuple(out)

    def may_approve_now(self, user_id: str) -> bool:
        person = self.identity.user(user_id)
        return (
            self._in(user_id, self.policy.approvers)
            and person is not None
            and not (person.deleted or person.is_bot or person.is_guest)
        )
