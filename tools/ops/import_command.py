"""`bw.py ops import DIR`: the command, its progress bar per kind, its summary table per kind and
its row-level report (JSON Lines, one line per problem); the work is `tools.ops.history_import`."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from tools.ops.bundle_files import Bundle, BundleError, load_bundle
from tools.ops.client import admin_token
from tools.ops.history_import import (
    Advance,
    ImportFailed,
    ImportOptions,
    ImportOutcome,
    import_bundle,
)
from tools.ops.targets import SERVICE_PORTS, Targets, service_url

console = Console()


@contextmanager
def kind_progress(console: Console, bundle: Bundle) -> Iterator[Advance]:
    """A bar per kind (its records settled: imported, unchanged or rejected); yields `advance`."""
    progress = Progress(
        TextColumn("{task.description:<18}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )
    tasks: dict[str, TaskID] = {
        kind_file.kind.name: progress.add_task(kind_file.kind.name, total=kind_file.records)
        for kind_file in bundle.files
    }

    def advance(kind: str, lines: int) -> None:
        progress.advance(tasks[kind], lines)

    with progress:
        yield advance


def summary_table(outcome: ImportOutcome) -> Table:
    table = Table(
        "kind",
        "service",
        "records",
        "imported",
        "unchanged",
        "rejected",
        "events",
        "seconds",
        "events/s",
        title=f"bundle {outcome.bundle_id}",
    )
    for tally in outcome.tallies.values():
        table.add_row(
            tally.kind,
            tally.service,
            f"{tally.records:,}",
            f"{tally.imported:,}",
            f"{tally.unchanged:,}",
            f"{len(tally.rejected):,}",
            f"{tally.events:,}",
            f"{tally.seconds:,.1f}",
            f"{tally.rate:,.0f}",
        )
    return table


def overall(outcome: ImportOutcome) -> str:
    waits = sum(outcome.waits.values())
    retries = sum(tally.retries for tally in outcome.tallies.values())
    text = (
        f"{outcome.events:,} events in {outcome.request_seconds:,.1f} s of requests: "
        f"{outcome.rate:,.0f} events/s; waits for the events to reach every service "
        f"{waits:,.1f} s between phases and {outcome.catch_up_seconds:,.1f} s after the last; "
        f"{outcome.seconds:,.1f} s in all"
    )
    if retries:
        text += f"; {retries} request(s) sent again while a service was away"
    return text


def write_report(outcome: ImportOutcome, path: Path) -> None:
    order = {kind: index for index, kind in enumerate(outcome.tallies)}
    ordered = sorted(outcome.problems, key=lambda p: (order.get(p.kind, 0), p.line, p.field))
    with path.open("w", encoding="utf-8") as report:
        for problem in ordered:
            report.write(json.dumps(problem.document(), ensure_ascii=False) + "\n")


@click.command("import")
@click.argument(
    "directory", type=click.Path(exists=True, file_okay=False, path_type=Path), metavar="DIR"
)
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("import-report.jsonl"),
    show_default=True,
    help="Where the row-level report goes (JSON Lines), written only when a record is rejected.",
)
@click.option("--chunk", type=click.IntRange(1, 5000), default=500, show_default=True)
@click.option(
    "--parallel",
    type=click.IntRange(1, 16),
    default=1,
    show_default=True,
    help="Requests of one kind in flight.",
)
@click.option(
    "--retry-seconds",
    type=click.FloatRange(0),
    default=300.0,
    show_default=True,
    help="How long a request is retried while its service is away (restarting).",
)
@click.option(
    "--wait-seconds",
    type=click.FloatRange(1),
    default=900.0,
    show_default=True,
    help="Bound of each wait for the events to reach every service (between phases).",
)
@click.option(
    "--token",
    envvar="BW_OPS_TOKEN",
    default=None,
    help="Admin bearer token (default: a development token minted with BW_JWT_SECRET).",
)
def import_history(
    directory: Path,
    report: Path,
    chunk: int,
    parallel: int,
    retry_seconds: float,
    wait_seconds: float,
    token: str | None,
) -> None:
    """Import the history bundle in DIR (manifest.json and a JSON Lines file per kind) through
    each owning service's POST /v1/imports/<kind>; exit 1 if any record was rejected."""
    try:
        bundle = load_bundle(directory)
    except BundleError as error:
        raise click.ClickException(f"bundle not imported: {error}") from error
    options = ImportOptions(
        chunk=chunk, parallel=parallel, retry_seconds=retry_seconds, wait_seconds=wait_seconds
    )
    urls = {name: service_url(name) for name in SERVICE_PORTS}
    bearer = _bearer(token)
    console.print(
        f"importing {bundle.manifest.bundle_id} ({bundle.manifest.programme}, "
        f"{sum(f.records for f in bundle.files):,} records, {bundle.checksum})"
    )
    failure: ImportFailed | None = None
    with kind_progress(console, bundle) as advance:
        try:
            outcome = asyncio.run(
                import_bundle(bundle, urls, bearer, Targets.from_environment(), options, advance)
            )
        except ImportFailed as error:
            failure, outcome = error, error.outcome
    _conclude(outcome, report)
    if failure is not None:
        raise click.ClickException(f"import stopped: {failure}")
    if outcome.rejected:
        sys.exit(1)


def _bearer(explicit: str | None) -> Callable[[], str]:
    """The given token, or a development admin token minted again before it expires."""
    minted: list[tuple[float, str]] = []

    def bearer() -> str:
        if explicit:
            return explicit
        if not minted or time.monotonic() - minted[0][0] > 120:
            minted[:] = [(time.monotonic(), admin_token(None))]
        return minted[0][1]

    return bearer


def _conclude(outcome: ImportOutcome, report: Path) -> None:
    console.print(summary_table(outcome))
    console.print(overall(outcome))
    if outcome.problems:
        write_report(outcome, report)
        console.print(
            f"[bold red]{outcome.rejected:,} record(s) rejected[/]: {len(outcome.problems):,} "
            f"problem(s) in {report}"
        )
