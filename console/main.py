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
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from bot.work import Lanes

# The console's parts: Block Kit as terminal text and the terminal (console.render); what
# replaces Slack — identity, notifier, respond (console.ports); and the
# session that runs commands, `:` verbs and scripts (console.session). This module starts it.
from console.ports import ConsoleError, ConsoleNotifier, DirectoryIdentity
from console.render import Screen
from console.session import Console

if TYPE_CHECKING:
    from bot.app import Bot

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
) -> tuple[Bot, ConsoleNotifier, Lanes]:
    """The bot exactly as `serve` builds it, with the terminal in Slack's place."""
    from bot import app
    from bot.settings import Settings

    extra: dict[str, Any] = {} if poll is None else {"poll_interval": poll}
    settings = Settings(
        slack_bot_token=SecretStr("xoxb-" + "console-never-sent"),
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
    pool = bot.ctx.lanes
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
