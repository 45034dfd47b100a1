"""`python -m tools.history generate | schemas | expected`: the history bundle's tools."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from tools.history.shape import SHAPES


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools.history", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    generate = commands.add_parser(
        "generate",
        help="write the bundle of a generated programme (python3 bw.py seed --history DIR)",
        description="Write a history bundle (betterwork-history/1) of a fictional programme: "
        "`history`, Cambodia's garment sector 2001-2010 shaped like Better Factories Cambodia; "
        "`programme`, the import benchmark's 2,000 factories x 5 yearly cycles.",
    )
    generate.add_argument("directory", type=Path, help="where to write (created if missing)")
    generate.add_argument("--seed", type=int, default=1, help="the same seed, the same bytes")
    generate.add_argument("--scale", choices=sorted(SHAPES), default="history")
    generate.add_argument(
        "--factories",
        type=int,
        help="about this many factories instead of the scale's (the workforce and training "
        "scale alike; the buyers' figures stay); e.g. 40 for a test that imports in seconds",
    )
    generate.add_argument(
        "--prefix",
        help="the source ids' prefix (default: the country, e.g. KH-F-00012; KHP at programme "
        "scale): another prefix for another programme in the same system",
    )
    schemas = commands.add_parser(
        "schemas", help="write docs/history-bundle/<kind>.schema.json from the record models"
    )
    schemas.add_argument("--check", action="store_true", help="fail if a schema is stale")
    expected = commands.add_parser(
        "expected",
        help="the programme's results table computed from a bundle's files alone",
    )
    expected.add_argument("directory", type=Path)
    expected.add_argument("--country", required=True, help="ISO 3166-1 alpha-2")
    expected.add_argument("--json", action="store_true", help="the endpoint's JSON document")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    if arguments.command == "generate":
        from tools.history.generate import describe, generate

        shape = SHAPES[arguments.scale]
        if arguments.factories is not None:
            shape = shape.with_factories(arguments.factories)
        generated = generate(
            arguments.directory, shape, seed=arguments.seed, prefix=arguments.prefix
        )
        print(describe(generated))
        return 0
    if arguments.command == "schemas":
        from tools.history.schemas import check, write

        if arguments.check:
            stale = check()
            for path in stale:
                print(f"out of date (run python -m tools.history schemas): {path}")
            return 1 if stale else 0
        for path in write():
            print(f"wrote {path}")
        return 0
    from tools.history.expected import NoFacts, render, results

    try:
        table = results(arguments.directory, arguments.country)
    except NoFacts as error:
        print(f"expected: {error}", file=sys.stderr)
        return 1
    print(json.dumps(table, indent=2) if arguments.json else render(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
