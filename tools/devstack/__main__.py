"""Command line: `python -m tools.devstack up` (the whole system) or `… migrate` (migrations only)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from tools.devstack.config import Config
from tools.devstack.output import OutputMux
from tools.devstack.stack import Devstack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.devstack",
        description=(
            "Run the system locally: embedded PostgreSQL and NATS (unless DATABASE_URL / NATS_URL "
            "are set), each service's migrations, then every service. Ctrl-C stops everything."
        ),
    )
    parser.add_argument("command", choices=["up", "migrate"])
    args = parser.parse_args(argv)
    config = Config.from_environment()
    out = OutputMux(["postgres", "nats", *(spec.name for spec in config.services)])
    stack = Devstack(config, out)
    work = stack.up if args.command == "up" else stack.migrate_only
    return asyncio.run(stack.run(work))


if __name__ == "__main__":
    sys.exit(main())
