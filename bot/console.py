"""`ksmc-bot console`: the whole bot in a terminal, without Slack.

It runs the same bot `ksmc-bot serve` runs — built by `bot.app.build`, with the same command and
button handlers (`handle_command`, `handle_press`), request service, runner, scheduler, database
and migration engine — and replaces only Slack: a small built-in user directory is the
`Identity` port, the terminal is the `Notifier` port (Block Kit rendered as text, buttons as
numbered choices) and each command's `respond`. By default it starts the simulated demo fleet in
process on a throwaway SQLite database, so a migration can be tried end to end in seconds; with
`--kubeconfig` and `--database-url` it works on real clusters and a real database.

`--script FILE` runs lines without a human (commands, `:as`, `:press`, `:wait`) and exits non-zero
at the first line that errs: a usage error, a refusal, a failed migration or a `:wait` timeout.
Without a terminal on stdin (CI, `make run` in a pipeline) and without a script it runs the
built-in demo script and exits.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import shlex
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TextIO, TypeVar

from pydantic import SecretStr
from slack_bolt import Respond
from slack_sdk.webhook import WebhookResponse
from sqlalchemy import func, select

from bot.db import AuditEvent
from bot.ports import UserInfo
from bot.snapshot import RequestSnapshot
from bot.states import RequestState, StepState, is_terminal

# The console is a front end, like bot.app: the one other place in bot/ that uses handlers/.
from handlers import queries
from handlers.actions import handle_press
from handlers.blocks import Rendered
from handlers.commands import handle_command
from handlers.render import render_final, render_reminder, render_step_failure
from handlers.render_queries import render_home
from handlers.render_request import STEP_ICONS, render_request

if TYPE_CHECKING:
    from bot.app import Bot

P = ParamSpec("P")
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
DEFAULT_APPROVERS = "bob,dave"

DEMO_SCRIPT = """\
# The built-in demo: alice asks, bob approves, the member moves.
clusters
migrate member-a to host-b keep ns1,ns2
:wait pending last
:as bob
:press approve last
:wait succeeded last
clusters
"""

HELP = """\
Console verbs (anything else is a /ksmc command, with or without the leading "/ksmc";
in a command, $last stands for the request last made in this console):
  :as NAME                    act as another user (:users lists them)
  :press N                    press button N of the last message that showed buttons
  :press VERB ID|last         press approve/reject/cancel/retry/abandon on a request
  :wait STATE ID|last [SECS]  wait until a request reaches STATE (default 120 s)
  :home                       show the App Home tab
  :users                      the user directory (and who may approve)
  :help                       this list
  :quit                       leave (also Ctrl-D)
"""

BUTTON_ACTIONS = {
    "approve": "ksmc_approve",
    "reject": "ksmc_reject",
    "cancel": "ksmc_cancel",
    "retry": "ksmc_retry",
    "abandon": "ksmc_abandon",
}
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


# ---- Block Kit as terminal text ----------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """A button as the console shows it: `[n] label`."""

    label: str
    action_id: str
    value: str
    confirm: str | None = None


_DATE = re.compile(r"<!date\^\d+\^[^|>]*\|([^>]*)>")
_USER = re.compile(r"<@([UW][A-Z0-9]+)>")
_GROUP = re.compile(r"<!subteam\^([A-Z0-9]+)(?:\|[^>]*)?>")
_SPECIAL = re.compile(r"<!(here|channel|everyone)>")
_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|([^>]*))?>")
_BOLD = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_ITALIC = re.compile(r"(?<![\w_])_(?=\S)([^_\n]+?)(?<=\S)_(?![\w_])")


def mrkdwn_to_text(text: str, people: Callable[[str], str], bold: bool = False) -> str:
    """Slack mrkdwn as terminal text: dates as their fallback, mentions as @name, links as
    `label (url)`, bold as ANSI bold (or plain), entities unescaped last."""
    text = _DATE.sub(lambda m: m[1], text)
    text = _USER.sub(lambda m: "@" + people(m[1]), text)
    text = _GROUP.sub(lambda m: f"@{m[1]}", text)
    text = _SPECIAL.sub(lambda m: f"@{m[1]}", text)
    text = _LINK.sub(lambda m: f"{m[2]} ({m[1]})" if m[2] else m[1], text)
    text = _BOLD.sub(lambda m: f"\033[1m{m[1]}\033[0m" if bold else m[1], text)
    text = _ITALIC.sub(lambda m: m[1], text)
    text = text.replace("```", "")
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def blocks_to_text(
    blocks: Sequence[dict[str, Any]], people: Callable[[str], str], bold: bool = False
) -> tuple[list[str], list[Choice]]:
    """A message's blocks as lines of text, and its buttons as choices (numbered from 1)."""
    lines: list[str] = []
    choices: list[Choice] = []

    def md(obj: Any) -> str:
        if not isinstance(obj, dict):
            return ""
        return mrkdwn_to_text(str(obj.get("text", "")), people, bold)

    def add_button(element: dict[str, Any]) -> str:
        confirm = element.get("confirm")
        asked = None
        if isinstance(confirm, dict):
            asked = f"{md(confirm.get('title'))} {md(confirm.get('text'))}".strip()
        label = str((element.get("text") or {}).get("text", "?"))
        choices.append(
            Choice(label, str(element.get("action_id", "")), str(element.get("value", "")), asked)
        )
        return f"[{len(choices)}] {label}"

    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            title = md(block.get("text"))
            lines.append(f"\033[1m{title}\033[0m" if bold else title)
        elif kind == "section":
            if block.get("text"):
                lines += md(block["text"]).splitlines() or [""]
            for item in block.get("fields") or []:
                lines.append("  " + md(item).replace("\n", " "))
            accessory = block.get("accessory")
            if isinstance(accessory, dict) and accessory.get("type") == "button":
                lines.append("  " + add_button(accessory))
        elif kind == "context":
            parts = [md(e) for e in block.get("elements") or [] if isinstance(e, dict)]
            lines.append("  " + " · ".join(p for p in parts if p))
        elif kind == "divider":
            lines.append("─" * 40)
        elif kind == "actions":
            buttons = [
                add_button(e)
                for e in block.get("elements") or []
                if isinstance(e, dict) and e.get("type") == "button"
            ]
            if buttons:
                lines.append("  ".join(buttons))
    return lines, choices


# ---- the terminal ------------------------------------------------------------------------------


class Screen:
    """The terminal: one writer at a time (the executor reports from its own threads), and the
    buttons of the last message that showed some. On a terminal (`tty`), a transient line (a
    step in progress) is redrawn in place by whatever is written next."""

    def __init__(
        self, out: TextIO, identity: DirectoryIdentity, color: bool = False, tty: bool = False
    ) -> None:
        self.out = out
        self.identity = identity
        self.color = color
        self.tty = tty
        self.lock = threading.RLock()
        self.choices: list[Choice] = []
        self._transient = False

    def person(self, user_id: str) -> str:
        found = self.identity.user(user_id)
        return found.name if found else user_id

    def write(self, text: str) -> None:
        with self.lock:
            if self._transient:
                self.out.write("\r\033[K")  # the step line in progress is replaced
                self._transient = False
            self.out.write(text if text.endswith("\n") else text + "\n")
            self.out.flush()

    def transient(self, text: str) -> None:
        """A line shown until the next write replaces it (terminals only; else not shown)."""
        if not self.tty:
            return
        with self.lock:
            self.out.write(("\r\033[K" if self._transient else "") + text)
            self.out.flush()
            self._transient = True

    def message(self, where: str, shown: Rendered, *, compact: bool = False) -> list[Choice]:
        """A message as a boxed block of text; its buttons become the current choices."""
        lines, choices = blocks_to_text(shown.blocks, self.person, self.color)
        if not lines:
            lines = [mrkdwn_to_text(shown.text, self.person, self.color)]
        if compact:
            lines = [lines[0], *(line for line in lines[1:] if line.lstrip().startswith("["))]
        with self.lock:
            self.write("\n".join([f"┌ {where}", *(f"│ {line}" for line in lines), "└"]))
            if choices:
                self.choices = choices
        return choices


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


# ---- background work the console can wait for ----------------------------------------------------


class TrackedPool(ThreadPoolExecutor):
    """`BotContext.pool` that knows what it still has to do, so a script line can wait for the
    answer its command started in the background."""

    def __init__(self) -> None:
        super().__init__(max_workers=8, thread_name_prefix="ksmc-bg")
        self._pending: set[Future[Any]] = set()
        self._guard = threading.Lock()

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        future = super().submit(fn, *args, **kwargs)
        with self._guard:
            self._pending.add(future)
        future.add_done_callback(self._done)
        return future

    def _done(self, future: Future[Any]) -> None:
        with self._guard:
            self._pending.discard(future)

    def wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            with self._guard:
                pending = list(self._pending)
            if not pending:
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            with contextlib.suppress(Exception):
                pending[0].result(timeout=left)


# ---- the console ---------------------------------------------------------------------------------


class Console:
    """Reads lines, acts as the current user, and says whether each line did what it asked."""

    def __init__(
        self,
        bot: Bot,
        identity: DirectoryIdentity,
        screen: Screen,
        notifier: ConsoleNotifier,
        user: UserInfo,
        pool: TrackedPool,
        interactive: bool = False,
    ) -> None:
        self.bot = bot
        self.ctx = bot.ctx
        self.identity = identity
        self.screen = screen
        self.notifier = notifier
        self.user = user
        self.pool = pool
        self.interactive = interactive
        self.last_request: str | None = None
        self.quit = False
        self._seen_failures = 0

    @property
    def idle_timeout(self) -> float:
        return float(self.ctx.gather_timeout) * 2 + 60

    # ---- one line ------------------------------------------------------------------------

    def run_line(self, line: str) -> None:
        """Do one line; raises ConsoleError when it did not do what it asked."""
        line = line.strip()
        if not line or line.startswith("#"):
            return
        if line.startswith(":"):
            self._verb(line)
        else:
            self.command(line)
        self._check_failures()

    def _verb(self, line: str) -> None:
        try:
            words = shlex.split(line[1:])
        except ValueError as e:
            raise ConsoleError(f"cannot read {line!r}: {e}") from None
        verb, args = (words[0].lower(), words[1:]) if words else ("help", [])
        if verb in ("quit", "q", "exit"):
            self.quit = True
        elif verb == "help":
            self.screen.write(HELP)
        elif verb == "as" and len(args) == 1:
            found = self.identity.find(args[0])
            if found is None:
                raise ConsoleError(f"no user {args[0]!r}; known: {self.identity.names()}")
            self.user = found
            self.screen.write(f"  (you are now {found.name}, {found.real_name})")
        elif verb == "users":
            approvers = set(self.ctx.service.policy.approvers)
            for u in self.identity.users:
                flags = {"approver": u.id in approvers, "guest": u.is_guest, "bot": u.is_bot}
                notes = ", ".join(name for name, on in flags.items() if on)
                extra = f" ({notes})" if notes else ""
                self.screen.write(f"  {u.name:<6} {u.id:<9} {u.real_name}{extra}")
        elif verb == "press":
            self.press(args)
        elif verb == "wait" and len(args) in (2, 3):
            timeout = float(args[2]) if len(args) == 3 else 120.0
            self.wait(args[0], self._request_id(args[1]), timeout)
        elif verb == "home":
            self.home()
        else:
            raise ConsoleError(f"unknown or incomplete console verb {line!r}; :help lists them")

    def _request_id(self, word: str) -> str:
        if word.lower() != "last":
            return word.lower()
        if self.last_request is None:
            raise ConsoleError('"last" names the request made in this console, and there is none')
        return self.last_request

    def _check_failures(self) -> None:
        failures = self.notifier.failures[self._seen_failures :]
        self._seen_failures = len(self.notifier.failures)
        if failures:
            raise ConsoleError("; ".join(failures))

    # ---- slash commands --------------------------------------------------------------------

    def command(self, text: str) -> None:
        if "$last" in text:
            text = text.replace("$last", self._request_id("last"))
        if text.split(maxsplit=1)[0].lower() == "/ksmc":
            text = text.split(maxsplit=1)[1] if len(text.split(maxsplit=1)) > 1 else ""
        elif text.startswith("/"):
            raise ConsoleError(f"only /ksmc is a command here, not {text.split()[0]!r}")
        body = {
            "token": "console",
            "team_id": TEAM,
            "team_domain": "console",
            "channel_id": CHANNEL,
            "channel_name": CHANNEL_NAME,
            "user_id": self.user.id,
            "user_name": self.user.name,
            "command": "/ksmc",
            "text": text,
            "response_url": "console:",
            "trigger_id": f"console.{uuid.uuid4().hex}",
        }
        refusals: list[str] = []
        newest = self._newest_request()
        mark = self._audit_mark()
        handle_command(self.ctx, body, ConsoleRespond(self.screen, self.user.name, refusals))
        if not self.pool.wait_idle(self.idle_timeout):
            raise ConsoleError(f"no answer to {text!r} within {self.idle_timeout:g}s")
        created = self._newest_request()
        if created is not None and created != newest:
            self.last_request = created
        self._refused(mark, refusals)
        if text.split()[:1] and text.split()[0].lower() == "migrate" and created == newest:
            raise ConsoleError("the request was not created")

    # ---- buttons ---------------------------------------------------------------------------

    def press(self, args: Sequence[str]) -> None:
        if len(args) == 1 and args[0].isdigit():
            n = int(args[0])
            choices = self.screen.choices
            if not 1 <= n <= len(choices):
                raise ConsoleError(
                    f"there is no button {n}; the last message showed {len(choices)}"
                )
            choice = choices[n - 1]
        elif len(args) == 2 and args[0].lower() in BUTTON_ACTIONS:
            action_id = BUTTON_ACTIONS[args[0].lower()]
            request_id = self._request_id(args[1])
            choice = self._button_on(request_id, action_id) or Choice(
                args[0].capitalize(), action_id, request_id
            )
        else:
            raise ConsoleError("usage: :press N, or :press approve|reject|cancel|retry|abandon ID")
        if choice.confirm and not self._confirmed(choice):
            self.screen.write("  (not pressed)")
            return
        self.screen.write(f"  ({self.user.name} pressed {choice.label} on {choice.value})")
        body = {
            "type": "block_actions",
            "user": {"id": self.user.id, "username": self.user.name, "team_id": TEAM},
            "team": {"id": TEAM, "domain": "console"},
            "channel": {"id": CHANNEL, "name": CHANNEL_NAME},
            "container": {"type": "message", "channel_id": CHANNEL, "is_ephemeral": False},
            "trigger_id": f"console.{uuid.uuid4().hex}",
            "response_url": "console:",
            "actions": [
                {
                    "action_id": choice.action_id,
                    "value": choice.value,
                    "type": "button",
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        refusals: list[str] = []
        mark = self._audit_mark()
        handle_press(
            self.ctx, choice.action_id, body, ConsoleRespond(self.screen, self.user.name, refusals)
        )
        self.pool.wait_idle(self.idle_timeout)
        self._refused(mark, refusals)

    def _button_on(self, request_id: str, action_id: str) -> Choice | None:
        """The button as the request's message shows it now (with its confirm dialog)."""
        snap = self.ctx.service.snapshot(request_id)
        if snap is None:
            return None
        _, choices = blocks_to_text(render_request(snap, _now()).blocks, self.screen.person)
        return next((c for c in choices if c.action_id == action_id), None)

    def _confirmed(self, choice: Choice) -> bool:
        self.screen.write(f"  ? {choice.confirm}")
        if not self.interactive:
            self.screen.write("  → yes (script)")
            return True
        try:
            answer = input("  confirm [y/N] ")
        except EOFError:
            return False
        return answer.strip().lower() in ("y", "yes")

    # ---- waiting ---------------------------------------------------------------------------

    def wait(self, state: str, request_id: str, timeout: float) -> None:
        try:
            wanted = RequestState(state.lower())
        except ValueError:
            states = ", ".join(s.value for s in RequestState)
            raise ConsoleError(f"{state!r} is not a request state ({states})") from None
        deadline = time.monotonic() + timeout
        while True:
            snap = self.ctx.service.snapshot(request_id)
            if snap is None:
                raise ConsoleError(f"there is no request {request_id}")
            if snap.state is wanted:
                self.screen.write(f"  ({request_id} is {wanted.value})")
                return
            final = is_terminal(snap.state) or snap.state in (
                RequestState.FAILED,
                RequestState.BLOCKED,
            )
            if final:
                why = f": {snap.error}" if snap.error else ""
                raise ConsoleError(
                    f"{request_id} is {snap.state.value}{why}; it will not become {wanted.value}"
                )
            if time.monotonic() > deadline:
                raise ConsoleError(
                    f"{request_id} is still {snap.state.value} after {timeout:g}s "
                    f"(waited for {wanted.value})"
                )
            time.sleep(0.1)

    # ---- the App Home tab --------------------------------------------------------------------

    def home(self) -> None:
        view = queries.fleet_view(self.ctx, TEAM)
        blocks = render_home(view, queries.active_requests(self.ctx, TEAM), _now())
        self.screen.message(f"App Home of {self.user.name}", Rendered("Home", blocks))

    # ---- what the database says about a line -------------------------------------------------

    def _newest_request(self) -> str | None:
        recent = self.ctx.service.recent(1)
        return recent[0].id if recent else None

    def _audit_mark(self) -> int:
        with self.ctx.sessions() as session:
            return int(session.execute(select(func.max(AuditEvent.id))).scalar() or 0)

    def _refused(self, mark: int, refusals: list[str]) -> None:
        """Raise if the line was refused: an answer said so, or the audit log recorded it."""
        with self.ctx.sessions() as session:
            actions = list(
                session.execute(
                    select(AuditEvent.action).where(
                        AuditEvent.id > mark,
                        AuditEvent.channel_id == CHANNEL,
                        AuditEvent.actor_id == self.user.id,
                    )
                ).scalars()
            )
        refused = [a for a in actions if a.endswith(".refused") or a == "command.usage_error"]
        if refused or refusals:
            raise ConsoleError(f"refused ({', '.join(refused) or 'see the answer above'})")

    # ---- loops -----------------------------------------------------------------------------

    def run_script(self, lines: Iterable[str]) -> int:
        """Run lines until one errs (exit status 1) or they end (0)."""
        for number, raw in enumerate(lines, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            self.screen.write(f"{self.user.name}> {line}")
            try:
                self.run_line(line)
            except ConsoleError as e:
                self.screen.write(f"✗ line {number}: {e}")
                return 1
            if self.quit:
                break
        self.pool.wait_idle(self.idle_timeout)
        try:
            self._check_failures()
        except ConsoleError as e:
            self.screen.write(f"✗ {e}")
            return 1
        return 0

    def run_interactive(self, read: Callable[[str], str] = input) -> int:
        """Read lines until :quit or end of input; errors are shown, and the session goes on."""
        while not self.quit:
            try:
                line = read(f"{self.user.name}> ")
            except (EOFError, KeyboardInterrupt):
                self.screen.write("")
                break
            try:
                self.run_line(line)
            except ConsoleError as e:
                self.screen.write(f"✗ {e}")
        return 0


# ---- start-up ------------------------------------------------------------------------------------


def add_parser(sub: Any) -> None:
    """The `console` subcommand of `ksmc-bot`."""
    p = sub.add_parser(
        "console",
        help="the bot in a terminal, without Slack (default: on the simulated demo fleet)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--as", dest="user", default="alice", help="who you are at first (alice)")
    p.add_argument(
        "--approvers",
        default=DEFAULT_APPROVERS,
        help=f"users allowed to approve, by name or Slack id ({DEFAULT_APPROVERS})",
    )
    p.add_argument("--script", default=None, help="run the lines of FILE (- for stdin) and exit")
    p.add_argument("--demo", action="store_true", help="run the built-in demo script and exit")
    p.add_argument("--world", default="demo", help="simulated world to start (default demo)")
    p.add_argument("--join-delay", type=float, default=None, help="simulated join delay (s)")
    p.add_argument("--kubeconfig", default=None, help="real clusters: one per context")
    p.add_argument("--database-url", default=None, help="default: SQLite in a temporary directory")
    p.add_argument("--log-level", default="WARNING", help="log level on stderr (WARNING)")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=str(args.log_level).upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    identity = DirectoryIdentity()
    try:
        user = identity.find(args.user)
        if user is None:
            raise ConsoleError(f"no user {args.user!r}; known: {identity.names()}")
        approvers = identity.ids(args.approvers)
        lines = _script_lines(args)
    except (ConsoleError, OSError) as e:
        print(f"ksmc-bot console: {e}", file=sys.stderr)
        return 2
    interactive = lines is None
    tty = sys.stdout.isatty()
    screen = Screen(sys.stdout, identity, color=tty and "NO_COLOR" not in os.environ, tty=tty)
    with _fleet(args, screen) as (kubeconfig, database_url, poll):
        bot, notifier, pool = _build(kubeconfig, database_url, approvers, identity, screen, poll)
        try:
            names = ", ".join(bot.registry.names()) or "none"
            screen.write(
                f"ksmc-bot console · clusters: {names}\n"
                f"You are {user.name}; approvers: "
                f"{', '.join(screen.person(a) for a in approvers) or 'nobody'}. "
                "Type a command (e.g. clusters, help) or :help."
            )
            console = Console(bot, identity, screen, notifier, user, pool, interactive)
            if lines is None:
                _history()
                return console.run_interactive()
            return console.run_script(lines)
        finally:
            bot.close()


def _script_lines(args: argparse.Namespace) -> list[str] | None:
    """The lines to run, or None for an interactive session."""
    if args.script == "-":
        return sys.stdin.read().splitlines()
    if args.script:
        return Path(args.script).read_text().splitlines()
    if args.demo or not sys.stdin.isatty():
        return DEMO_SCRIPT.splitlines()
    return None


@contextlib.contextmanager
def _fleet(args: argparse.Namespace, screen: Screen) -> Iterator[tuple[str, str, float | None]]:
    """(kubeconfig, database URL, poll interval): the given ones, or the simulated world and a
    SQLite file in a temporary directory, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="ksmc-console-") as tmp:
        database_url = args.database_url or f"sqlite:///{Path(tmp) / 'ksmc.db'}"
        if args.kubeconfig:
            yield args.kubeconfig, database_url, None
            return
        from k8s.sim import loader

        kubeconfig = Path(tmp) / "kubeconfig"
        started = time.monotonic()
        world = loader.start(args.world, kubeconfig=kubeconfig, join_delay=args.join_delay)
        try:
            screen.write(
                f"Simulated KubeSphere fleet {args.world!r} started in "
                f"{time.monotonic() - started:.1f}s (kubeconfig {kubeconfig})"
            )
            # the simulator answers at once: poll its controllers' progress often
            poll = None if "KSMC_POLL_INTERVAL" in os.environ else 0.1
            yield str(kubeconfig), database_url, poll
        finally:
            world.stop()


def _build(
    kubeconfig: str,
    database_url: str,
    approvers: tuple[str, ...],
    identity: DirectoryIdentity,
    screen: Screen,
    poll: float | None,
) -> tuple[Bot, ConsoleNotifier, TrackedPool]:
    """The bot exactly as `serve` builds it, with the terminal in Slack's place."""
    from bot import app
    from bot.settings import Settings

    extra: dict[str, Any] = {} if poll is None else {"poll_interval": poll}
    settings = Settings(
        slack_bot_token=SecretStr("xoxb-console-never-sent"),
        slack_signing_secret=SecretStr("console-never-used"),
        slack_app_token=None,
        # Nothing in the console calls Slack; were something to, it would fail here, locally.
        slack_api_url="http://127.0.0.1:9/",
        database_url=database_url,
        kubeconfig=kubeconfig,
        approvers=approvers,
        **extra,
    )
    notifier = ConsoleNotifier(screen)
    bot = app.build(settings, identity=identity, notifier=notifier)
    pool = TrackedPool()
    old, bot.ctx.pool = bot.ctx.pool, pool
    old.shutdown(wait=False)
    bot.start_background()
    if _wait_for_leadership(bot, screen):
        # The new leader re-renders unfinished requests in the background (`Bot._catch_up`,
        # which also fails preflights "interrupted by a restart"): let it finish before the
        # first command, or it would take that command's preflight for an interrupted one.
        time.sleep(0.05)
        pool.wait_idle(60)
    return bot, notifier, pool


def _wait_for_leadership(bot: Bot, screen: Screen, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if bot.leadership is not None and bot.leadership.is_leader:
            return True
        time.sleep(0.05)
    screen.write(
        "  (another ksmc-bot is the leader on this database: approved migrations run there)"
    )
    return False


def _history() -> None:
    with contextlib.suppress(ImportError):
        import readline  # noqa: F401  (line editing and history for input())
