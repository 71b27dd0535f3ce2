"""What the console puts in Slack's place: the ports `bot.app.build` takes, for a terminal.

`ksmc-bot console` runs the same bot as `serve` and replaces only what talks to Slack: the
`Identity` port (a small built-in user directory), the `Notifier` port (request messages printed
as they change) and each command's `respond` (answers printed, refusals noted so that a script
line fails); a script line waits for the work its command started through the context's lanes
(`bot.work.Lanes.wait_idle`). They are kept apart from the session that drives them
(`console.session`) and from start-up (`console.main`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from slack_bolt import Respond
from slack_sdk.webhook import WebhookResponse

from bot.ports import UserInfo
from bot.snapshot import RequestSnapshot
from bot.states import RequestState, StepState
from console.render import Screen, blocks_to_text

# The console modules are a front end, like bot.app: the other places in bot/ that use handlers/.
from handlers.blocks import Rendered
from handlers.render import render_final, render_reminder, render_step_failure
from handlers.render_plan import STEP_ICONS
from handlers.render_request import render_request

T = TypeVar("T")

TEAM = "T0CONSOLE"
CHANNEL = "C0CONSOLE"
CHANNEL_NAME = "ksmc-console"

#: The console's Slack workspace: who can be impersonated with `--as` / `:as`.
DIRECTORY: tuple[UserInfo, ...] = (
    UserInfo("U0ALICE", "alice", "Alice Requester", "Europe/Berlin"),
    UserInfo("U0BOB", "bob", "Bob Approver", "Europe/London"),
    UserInfo("U0CAROL", "carol", "Carol Bystander", "America/New_York"),
    UserInfo("U0DAVE", "dave", "Dave Ops", "Asia/Tokyo"),
    UserInfo("U0ERIN", "erin", "Erin SRE", "UTC"),
    UserInfo("U0GUS", "gus", "Gus Guest", "UTC", is_guest=True),
    UserInfo("U0ROBO", "robo", "Robo", "UTC", is_bot=True),
)
#: Block ids of the answers that mean "no": a refusal, a command that did not parse, a request
#: that does not exist.
REFUSAL_BLOCKS = ("ksmc:refusal", "ksmc:usage-error", "ksmc:q:show:missing")


class ConsoleError(Exception):
    """A line of the console that did not do what it asked (a script stops here)."""


# ---- the Identity port: a built-in directory ---------------------------------------------------


class DirectoryIdentity:
    """Users from `DIRECTORY`; user groups are not used in the console."""

    def __init__(self, users: Iterable[UserInfo] = DIRECTORY) -> None:
        self.users = tuple(users)

    def user(self, user_id: str, *, fresh: bool = False) -> UserInfo | None:
        return next((u for u in self.users if u.id == user_id), None)

    def group_members(self, group_id: str, *, fresh: bool = False) -> frozenset[str]:
        return frozenset()

    def find(self, name_or_id: str) -> UserInfo | None:
        key = name_or_id.strip().lstrip("@").lower()
        return next((u for u in self.users if key in (u.name, u.id.lower())), None)

    def ids(self, names: str) -> tuple[str, ...]:
        """`bob,dave` → their user ids; raises ConsoleError naming an unknown user."""
        out: list[str] = []
        for name in (n for n in names.split(",") if n.strip()):
            found = self.find(name)
            if found is None:
                raise ConsoleError(f"unknown user {name.strip()!r}; known: {self.names()}")
            out.append(found.id)
        return tuple(out)

    def names(self) -> str:
        return ", ".join(u.name for u in self.users)


# ---- the Notifier port: request messages in the terminal --------------------------------------


@dataclass
class _Shown:
    state: RequestState
    steps: dict[int, StepState] = field(default_factory=dict)


class ConsoleNotifier:
    """Shows each request's message: in full when it first appears and when it waits for someone
    (pending, blocked, scheduled, failed), otherwise compactly — its title line, the steps that
    changed, its buttons. Thread replies (failures, outcome, reminders) are printed under it."""

    FULL = frozenset(
        {RequestState.PENDING, RequestState.BLOCKED, RequestState.SCHEDULED, RequestState.FAILED}
    )

    def __init__(self, screen: Screen) -> None:
        self.screen = screen
        self.failures: list[str] = []
        self._shown: dict[str, _Shown] = {}
        self._lock = threading.Lock()

    def request_changed(self, snap: RequestSnapshot) -> None:
        with self._lock:
            before = self._shown.get(snap.id)
            steps = {s.index: s.state for s in snap.steps}
            self._shown[snap.id] = _Shown(snap.state, steps)
        if before is not None and before.state is snap.state and before.steps == steps:
            return
        rendered = render_request(snap, _now())
        where = f"#{CHANNEL_NAME} · request {snap.id}"
        if before is None or (snap.state is not before.state and snap.state in self.FULL):
            self.screen.message(where, rendered)
            return
        changed = [s for s in snap.steps if before.steps.get(s.index) is not s.state]
        with self.screen.lock:
            if snap.state is not before.state:
                self.screen.message(where, rendered, compact=True)
            for step in changed:
                if step.state is StepState.PENDING:
                    continue
                took = f" ({step.seconds:.1f}s)" if step.seconds is not None else ""
                line = (
                    f"  {STEP_ICONS[step.state]} {snap.id} step {step.index + 1}/"
                    f"{len(snap.steps)}: {step.title}{took}"
                )
                if step.state is StepState.RUNNING:
                    self.screen.transient(line)  # replaced by the step's outcome
                else:
                    self.screen.write(line)

    def step_failed(self, snap: RequestSnapshot, index: int) -> None:
        self._reply(snap, render_step_failure(snap, index))

    def finished(self, snap: RequestSnapshot) -> None:
        if snap.state is RequestState.FAILED:
            with self._lock:
                self.failures.append(f"migration {snap.id} failed: {snap.error or 'no message'}")
        self._reply(snap, render_final(snap))

    def remind(self, snap: RequestSnapshot, approvers: tuple[str, ...]) -> None:
        self._reply(snap, render_reminder(snap, approvers))

    def _reply(self, snap: RequestSnapshot, shown: Rendered) -> None:
        lines, _ = blocks_to_text(shown.blocks, self.screen.person, self.screen.color)
        text = "\n".join(f"  ↳ {line}" for line in lines)
        self.screen.write(f"  ↳ thread of {snap.id}:\n{text}")


def _now() -> datetime:
    return datetime.now(UTC)


# ---- the response_url ----------------------------------------------------------------------


class ConsoleRespond(Respond):
    """A command's response_url: prints the answer (ephemeral ones as seen by the asker only)
    and notes refusals and usage errors, which make a script line fail."""

    def __init__(self, screen: Screen, asker: str, refusals: list[str]) -> None:
        super().__init__(response_url=None)
        self.screen = screen
        self.asker = asker
        self.refusals = refusals

    def __call__(
        self,
        text: str | dict[str, Any] = "",
        blocks: Sequence[Any] | None = None,
        attachments: Sequence[Any] | None = None,
        response_type: str | None = None,
        replace_original: bool | None = None,
        delete_original: bool | None = None,
        unfurl_links: bool | None = None,
        unfurl_media: bool | None = None,
        thread_ts: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> WebhookResponse:
        plain_blocks = [b if isinstance(b, dict) else b.to_dict() for b in blocks or []]
        shown = Rendered(str(text), plain_blocks)
        if any(b.get("block_id") in REFUSAL_BLOCKS for b in plain_blocks):
            self.refusals.append(str(text))
        where = (
            f"#{CHANNEL_NAME} · answer for everyone"
            if response_type == "in_channel"
            else f"only {self.asker} sees this"
        )
        self.screen.message(where, shown)
        return WebhookResponse(url="console:", status_code=200, body="ok", headers={})
