"""Command line: `python -m tools.devstack up` (the whole system) or `… migrate` (migrations only)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
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
    parser.add_argument(
        "--nats-cluster",
        type=int,
        default=None,
        metavar="N",
        help=(
            "run embedded NATS as an N-node JetStream cluster on loopback (streams with N "
            "replicas, services given every node's URL); default 1"
        ),
    )
    args = parser.parse_args(argv)
    config = Config.from_environment()
    if args.nats_cluster is not None:
        if not 1 <= args.nats_cluster <= 5:
            parser.error("--nats-cluster: between 1 and 5 nodes")
        config = dataclasses.replace(config, nats_cluster=args.nats_cluster)
    nats_names = ["nats"] + [f"nats-{n + 1}" for n in range(config.nats_cluster)]
    out = OutputMux(["postgres", *nats_names, *(spec.name for spec in config.services)])
    stack = Devstack(config, out)
    work = stack.up if args.command == "up" else stack.migrate_only
    return asyncio.run(stack.run(work))


if __name__ == "__main__":
    sys.exit(main())
