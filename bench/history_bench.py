"""The history import's rate (issue 19): a generated bundle imported through the operator CLI's
import function (`tools.ops.history_import`) into the running services, beside the REST seed.

`python -m bench.history_bench [--quick]` starts the stack as `bench services` does, seeds the
programme through REST for a bounded time (its events/s, the ratio's denominator), generates the
programme-scale bundle (`python -m tools.history generate DIR --scale programme`, what
`bw.py seed --history` runs: 2,000 factories x 5 yearly cycles, about 1.5 million events; quick:
40 factories), imports it and prints events/s per kind and overall, how long the downstream
services took to catch up, and the end-to-end rate (every store's new events) as a ratio to the
REST seed's. `bw.py bench services` runs the same phase after its own seed (`--only history`
alone: the stack, a bounded seed, the import). Figures are printed, never asserted."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.report import Outcome, rate, table
from tools.ops.bundle_files import load_bundle
from tools.ops.client import admin_token
from tools.ops.history_import import ImportOptions, ImportOutcome, import_bundle
from tools.ops.targets import Targets

if TYPE_CHECKING:
    from bench.service_bench import Bench

TARGET_EVENTS_PER_SECOND = 20_000.0
EVENT_SCHEMAS = ("assessment", "remediation", "buyer_sharing", "notifications", "advisory")


@dataclass(frozen=True)
class HistorySizes:
    scale: str  # the generator's --scale
    factories: int | None  # the generator's --factories (None: the scale's own)
    generate_seconds: float  # the generator's time bound
    seed_seconds: float  # the REST seed's bound when this phase seeds on its own
    chunk: int = 500
    parallel: int = 1


HISTORY_FULL = HistorySizes("programme", None, 1_800.0, 300.0)
HISTORY_QUICK = HistorySizes("programme", 40, 300.0, 25.0)


def say(message: str = "") -> None:
    print(message, flush=True)


async def generate(directory: Path, sizes: HistorySizes) -> float:
    """Write the bundle with the generator in its own process; the seconds it took."""
    started = time.perf_counter()
    arguments = [str(directory), "--scale", sizes.scale]
    if sizes.factories is not None:
        arguments += ["--factories", str(sizes.factories)]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tools.history",
        "generate",
        *arguments,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), sizes.generate_seconds)
    if process.returncode != 0:
        raise RuntimeError(f"the generator failed: {output.decode()[-2000:]}")
    return time.perf_counter() - started


class HistoryPhase:
    """Phase [9] of `bench services`: the import after the REST seed, on the same stack."""

    def __init__(self, bench: Bench, sizes: HistorySizes) -> None:
        self.bench = bench
        self.sizes = sizes

    async def store_events(self) -> dict[str, int]:
        return {schema: await self.bench.event_count(schema) for schema in EVENT_SCHEMAS}

    async def run(self, seeded: dict[str, Any] | None) -> None:
        bench, sizes = self.bench, self.sizes
        factories = f"{sizes.factories:,} factories" if sizes.factories else "its own size"
        say(
            f"\n[9] history import: the generator's '{sizes.scale}' bundle ({factories}) through "
            "bw.py ops import's function, chunks of "
            f"{sizes.chunk}, {sizes.parallel} request(s) per kind in flight"
        )
        directory = Path(tempfile.mkdtemp(prefix="bench-history-")) / "bundle"
        generated = await generate(directory, sizes)
        bundle = load_bundle(directory)
        records = sum(kind_file.records for kind_file in bundle.files)
        say(f"    generated {records:,} records in {generated:,.1f} s: {directory}")
        before = await self.store_events()
        targets = Targets(bench.database.dsn, bench.nats_url, bench.prefix)
        urls = {name: bench.stack.url(name) for name in bench.stack.stacks}
        options = ImportOptions(chunk=sizes.chunk, parallel=sizes.parallel)
        started = time.perf_counter()
        outcome = await import_bundle(bundle, urls, lambda: admin_token(None), targets, options)
        whole = time.perf_counter() - started
        after = await self.store_events()
        self.report(outcome, whole, before, after, seeded)

    def report(
        self,
        outcome: ImportOutcome,
        whole: float,
        before: dict[str, int],
        after: dict[str, int],
        seeded: dict[str, Any] | None,
    ) -> None:
        rows = [
            [
                tally.kind,
                tally.service,
                f"{tally.records:,}",
                f"{tally.imported:,}",
                f"{len(tally.rejected):,}",
                f"{tally.events:,}",
                f"{tally.seconds:,.1f} s",
                rate(tally.rate),
            ]
            for tally in outcome.tallies.values()
        ]
        say(
            table(
                ["kind", "service", "records", "imported", "rejected", "events", "time", "rate"],
                rows,
            )
        )
        stored = {schema: after[schema] - before[schema] for schema in EVENT_SCHEMAS}
        total = sum(stored.values())
        waits = sum(outcome.waits.values())
        say(
            table(
                ["import", ""],
                [
                    [
                        "events the import requests appended",
                        f"{outcome.events:,} in {outcome.request_seconds:,.1f} s of requests: "
                        f"{rate(outcome.rate)}",
                    ],
                    ["waits for propagation between phases", f"{waits:,.1f} s"],
                    [
                        "downstream caught up after the last request",
                        f"{outcome.catch_up_seconds:,.1f} s",
                    ],
                    *(
                        [f"new events in the {schema} store", f"{count:,}"]
                        for schema, count in stored.items()
                    ),
                    [
                        "all new events, first request to caught up",
                        f"{total:,} in {whole:,.1f} s: {rate(total / whole if whole else 0.0)}",
                    ],
                    ["rejected records", f"{outcome.rejected:,}"],
                ],
            )
        )
        end_to_end = total / whole if whole else 0.0
        rest = rest_seed_rate(seeded)
        ratio = (
            f"; end to end {rate(end_to_end)} = {end_to_end / rest:,.1f}x the REST seed's "
            f"{rate(rest)} (all stores both)"
            if rest
            else f"; end to end {rate(end_to_end)} (all stores)"
        )
        self.bench.outcomes.append(
            Outcome(
                "history import (events/s of requests)",
                f"{rate(outcome.rate)}{ratio}",
                f"≥ {rate(TARGET_EVENTS_PER_SECOND)}",
                outcome.rate >= TARGET_EVENTS_PER_SECOND,
            )
        )
        self.bench.outcomes.append(
            Outcome(
                "history import: downstream catch-up",
                f"{outcome.catch_up_seconds:,.1f} s",
                "-",
                None,
            )
        )


def rest_seed_rate(seeded: dict[str, Any] | None) -> float | None:
    """The REST seed's events/s: the events in the stores after it over its time (the whole run's
    events so far: the phases before the seed add a few thousand)."""
    if not seeded or not seeded.get("seconds"):
        return None
    events = sum((seeded.get("store_events") or {}).values())
    return events / float(seeded["seconds"]) if events else None


async def standalone(quick: bool, sizes: HistorySizes) -> None:
    """`bench services`' programme phase with a bounded REST seed (the ratio's denominator; its
    queries too), then the import."""
    from bench import service_bench

    base = service_bench.QUICK if quick else service_bench.FULL
    service_sizes = dataclasses.replace(base, seed_seconds=sizes.seed_seconds, history=sizes)
    await service_bench.run(service_sizes, ("programme", "history"))


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.history_bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a small bundle: a smoke run")
    parser.add_argument("--factories", type=int, help="the generator's --factories")
    parser.add_argument("--chunk", type=int, help="lines per import request (default 500)")
    parser.add_argument("--parallel", type=int, help="requests of one kind in flight (default 1)")
    parser.add_argument(
        "--seed-seconds", type=float, help="the REST seed's bound (default 300; quick 25)"
    )
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    sizes = HISTORY_QUICK if arguments.quick else HISTORY_FULL
    changes = {
        name: getattr(arguments, name)
        for name in ("factories", "chunk", "parallel", "seed_seconds")
        if getattr(arguments, name) is not None
    }
    sizes = dataclasses.replace(sizes, **changes)
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    asyncio.run(standalone(arguments.quick, sizes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
