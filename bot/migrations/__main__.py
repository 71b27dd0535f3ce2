"""Run an Alembic command against the bot's migrations: `python -m bot.migrations --help`.

The database URL comes from `--url` or the KSMC_DATABASE_URL environment variable (default: a
throwaway SQLite file, enough for `revision --autogenerate` after `upgrade head`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from alembic.config import CommandLine

from bot.db import alembic_config


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    url = os.environ.get("KSMC_DATABASE_URL", "sqlite:///ksmc-dev.db")
    if "--url" in args:
        i = args.index("--url")
        url = args[i + 1]
        del args[i : i + 2]
    cli = CommandLine(prog="python -m bot.migrations")
    options = cli.parser.parse_args(args)
    if not hasattr(options, "cmd"):
        cli.parser.error("too few arguments")
    cli.run_cmd(alembic_config(url), options)
    return 0


if __name__ == "__main__":
    sys.exit(main())
