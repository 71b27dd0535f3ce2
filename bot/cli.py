"""The `ksmc-bot` command line: one entry point, one subcommand per job."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ksmc-bot", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    from k8s.sim import cli as sim_cli

    sim_cli.add_parser(sub)
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
