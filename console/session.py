"""A console session: reads lines, acts as the current user, says whether each line worked.

A line is a `/ksmc` command (given to `handle_command` as Slack would send it) or a `:` verb of
the console's own (`:as`, `:press`, `:wait`, `:home`, ...). Each line either does what it asked
or raises `ConsoleError` — a refusal, a usage error, a failed migration, a `:wait` timeout — which
is what lets `--script` stop at the first line that errs. The same session serves a human at a
terminal (`run_interactive`) and a script (`run_script`).
"""

from __future__ import annotations

import shlex
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from bot.db import AuditEvent
from bot.ports import UserInfo
from bot.states import RequestState, is_terminal
from bot.work import Lanes
from console.ports import (
    CHANNEL,
    CHANNEL_NAME,
    TEAM,
    ConsoleError,
    ConsoleNotifier,
    ConsoleRespond,
    DirectoryIdentity,
    _now,
)
from console.render import Choice, Screen, blocks_to_text

# The console modules are a front end, like bot.app: the other places in bot/ that use handlers/.
from handlers import queries
from handlers.actions import handle_press
from handlers.blocks import Rendered
from handlers.commands import handle_command
from handlers.render_queries import render_home
from handlers.render_request import render_request

if TYPE_CHECKING:
    from bot.app import Bot

HELP = """\
Console verbs (anything else is a /ksmc command, with or without the leading "/ksmc";
in a command, $last stands for the request last made in this console):
  :as NAME                    act as another user (:users lists them)
  :press N                    press button N of the last message that showed buttons
  :press VERB ID|last         press approve/reject/cancel/retry/rollback/abandon on a request
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
    "rollback": "ksmc_rollback",
    "abandon": "ksmc_abandon",
}


class Console:
    """Reads lines, acts as the current user, and says whether each line did what it asked."""

    def __init__(
        self,
        bot: Bot,
        identity: DirectoryIdentity,
        screen: Screen,
        notifier: ConsoleNotifier,
        user: UserInfo,
        pool: Lanes,
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
        return float(self.ctx.clusters.timeout) * 2 + 60

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
            verbs = "|".join(BUTTON_ACTIONS)
            raise ConsoleError(f"usage: :press N, or :press {verbs} ID")
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
        with self.ctx.service.sessions() as session:
            return int(session.execute(select(func.max(AuditEvent.id))).scalar() or 0)

    def _refused(self, mark: int, refusals: list[str]) -> None:
        """Raise if the line was refused: an answer said so, or the audit log recorded it."""
        with self.ctx.service.sessions() as session:
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
