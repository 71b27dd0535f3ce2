"""The `ksmc-bot` command line: one entry point, one subcommand per job."""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading
from datetime import datetime
from typing import Any


def _serve(args: argparse.Namespace) -> int:
    from bot import app, http_server, logcontext, logfilter, settings

    try:
        config = settings.load()
    except settings.SettingsError as e:
        print(f"ksmc-bot: {e}", file=sys.stderr)
        return 2
    logcontext.configure(config.log_level, config.log_format)
    logfilter.install_for(config)  # one record, one line; the bot's secrets never logged
    bot = app.build(config)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    mode = "Socket Mode" if config.socket_mode else f"HTTP on {config.host}:{config.port}"
    print(f"ksmc-bot serving ({mode}); clusters: {', '.join(bot.registry.names())}", flush=True)
    http_server.serve(bot, stop)
    return 0


def _database_url(args: argparse.Namespace) -> str:
    import os

    return str(args.database_url or os.environ.get("KSMC_DATABASE_URL") or "sqlite:///ksmc.db")


def _db(args: argparse.Namespace) -> int:
    from bot import db

    url = _database_url(args)
    if args.db_command == "upgrade":
        db.upgrade(url)
        print(f"database at revision {db.current_revision(url)}")
        if args.grant_to:
            db.grant_runtime(url, args.grant_to)
            print(f"runtime role {args.grant_to} granted {len(db.RUNTIME_GRANTS)} tables")
        return 0
    print(f"revision {db.current_revision(url)}; up to date: {db.is_up_to_date(url)}")
    return 0


def _audit(args: argparse.Namespace) -> int:
    import os

    from bot import audit, db

    url = _database_url(args)
    engine = db.make_engine(url)
    sessions = db.session_factory(engine)
    key_text = os.environ.get("KSMC_AUDIT_KEY", "")
    key = key_text.encode() if key_text else None
    try:
        with sessions() as session:
            if args.audit_command == "verify":
                return _verify(session, key, args.anchors)
            since = datetime.fromisoformat(args.since) if args.since else None
            audit.export(session, since, args.format, sys.stdout)
        return 0
    finally:
        engine.dispose()  # the pool's connections, closed rather than left to the collector


def _verify(session: Any, key: bytes | None, anchors_path: str | None) -> int:
    """Check the chain (with KSMC_AUDIT_KEY) and, with --anchors, the published heads; say
    which checks ran and which did not."""
    from pathlib import Path

    from bot import audit

    result = audit.verify(session, key)
    if not result.ok:
        print(f"audit log BROKEN at event {result.first_bad_id}: {result.reason}", file=sys.stderr)
        return 1
    print(f"chain: OK: {result.reason}, head {result.last_hash[:16]} (event {result.last_id})")
    if anchors_path is None:
        print("anchors: not checked (pass --anchors FILE: the bot's log or the audit channel)")
        print("audit log OK (chain only)")
        return 0
    anchors = audit.parse_anchors(Path(anchors_path).read_text(errors="replace"))
    problems = audit.check_anchors(session, anchors)
    if problems:
        for problem in problems:
            print(f"anchors: BROKEN: {problem}", file=sys.stderr)
        return 1
    print(f"anchors: OK: {len(anchors)} published heads match the database")
    print("audit log OK (chain and anchors)")
    return 0


def _version() -> str:
    """The installed distribution's version (pyproject.toml's, through the package metadata)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ksmc-bot")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


#: Subcommands whose modules sit above `bot` (the console front end) or beside the product (the
#: simulator): imported by name, and only for the subcommand that runs, so `serve` loads neither.
FRONT_ENDS = {
    "console": ("console.main", "the bot in a terminal, without Slack (default: the demo fleet)"),
    "sim": ("k8s.sim.cli", "run simulated KubeSphere clusters"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ksmc-bot", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the Slack bot (settings from the environment)")
    serve.set_defaults(func=_serve)

    dbp = sub.add_parser("db", help="database schema")
    dbp.add_argument("db_command", choices=["upgrade", "status"])
    dbp.add_argument("--database-url", default=None, help="default: $KSMC_DATABASE_URL")
    dbp.add_argument(
        "--grant-to", default=None, help="upgrade: the bot's runtime role (PostgreSQL), no owner"
    )
    dbp.set_defaults(func=_db)

    aud = sub.add_parser("audit", help="the tamper-evident audit log")
    aud.add_argument("audit_command", choices=["verify", "export"])
    aud.add_argument("--database-url", default=None, help="default: $KSMC_DATABASE_URL")
    aud.add_argument("--since", default=None, help="ISO time, e.g. 2026-11-01T00:00+00:00")
    aud.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    aud.add_argument(
        "--anchors", default=None, help="verify: a file holding published `ksmc-audit-anchor` lines"
    )
    aud.set_defaults(func=_audit)

    chosen = next((a for a in (sys.argv[1:] if argv is None else argv) if a[:1] != "-"), None)
    for name, (module, summary) in FRONT_ENDS.items():
        if name == chosen:  # its module (the simulator, the terminal UI) only when it runs
            importlib.import_module(module).add_parser(sub)
        else:
            sub.add_parser(name, help=summary, add_help=False)
    args = parser.parse_args(argv)
    func: Any = args.func
    result: int = func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
