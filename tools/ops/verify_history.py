"""`bw.py ops verify-history [--service S]...`: each service's stored history checked against its
hash chain and signed tree heads, read straight from PostgreSQL (libs/events/verification.py);
exit 1 when an event was altered, removed or reordered, or a head does not verify."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg
import click
from rich.console import Console
from rich.table import Table

from libs.events.runtime import plain_dsn
from libs.events.treehead import HistoryKeyError, parse_history_keys
from libs.events.verification import HistoryReport, load_public_keys, verify_history
from tools.ops.targets import SERVICE_PORTS, Targets

console = Console()
CONNECT_TIMEOUT_SECONDS = 10.0


async def verify_services(
    database_url: str, services: Sequence[str], trusted_keys: list[dict[str, Any]] | None
) -> list[HistoryReport]:
    """Each service's report, in the order given; a service whose schema has no chained event
    table is skipped with a note."""
    connection = await asyncpg.connect(plain_dsn(database_url), timeout=CONNECT_TIMEOUT_SECONDS)
    try:
        reports = []
        for service in services:
            chained = await connection.fetchval(
                "SELECT count(*) FROM information_schema.columns WHERE table_schema = $1 "
                "AND table_name = 'event' AND column_name = 'hash'",
                service,
            )
            if not chained:
                report = HistoryReport(service=service)
                report.notes.append("no chained event table in this database (not migrated?)")
                reports.append(report)
                continue
            reports.append(await verify_history(connection, service, trusted_keys=trusted_keys))
        return reports
    finally:
        await connection.close()


def _trusted_keys(keys_file: Path | None) -> list[dict[str, Any]] | None:
    """The public keys heads must be signed with: --keys (a JWKS or an array of JWKs), else the
    public parts of BW_HISTORY_KEYS; none when neither is given."""
    if keys_file is not None:
        try:
            return load_public_keys(keys_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise click.ClickException(f"--keys {keys_file}: {error}") from None
    configured = os.environ.get("BW_HISTORY_KEYS", "")
    try:
        return [key.public_jwk() for key in parse_history_keys(configured)] or None
    except HistoryKeyError as error:
        raise click.ClickException(str(error)) from None


def print_reports(reports: Sequence[HistoryReport]) -> None:
    table = Table("service", "streams", "events", "heads", "failures", "seconds", title="history")
    for report in reports:
        table.add_row(
            report.service,
            f"{report.streams:,}",
            f"{report.events:,}",
            f"{report.heads:,}",
            "[green]0[/green]" if report.ok else f"[red]{report.failure_count:,}[/red]",
            f"{report.seconds:.1f}",
        )
    console.print(table)
    for report in reports:
        for note in report.notes:
            console.print(f"{report.service}: {note}", soft_wrap=True)
        for failure in report.failures:
            console.print(
                f"[red]{failure.describe(report.service)}[/red]", highlight=False, soft_wrap=True
            )
        if report.failure_count > len(report.failures):
            console.print(
                f"{report.service}: … and {report.failure_count - len(report.failures)} more"
            )


def _as_json(reports: Sequence[HistoryReport]) -> list[dict[str, Any]]:
    return [
        {
            "service": report.service,
            "ok": report.ok,
            "streams": report.streams,
            "events": report.events,
            "heads": report.heads,
            "failure_count": report.failure_count,
            "failures": [vars(failure) for failure in report.failures],
            "notes": report.notes,
            "seconds": round(report.seconds, 3),
        }
        for report in reports
    ]


@click.command("verify-history")
@click.option(
    "--service",
    "services",
    type=click.Choice(list(SERVICE_PORTS)),
    multiple=True,
    help="Default: every service.",
)
@click.option(
    "--keys",
    "keys_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The services' public history keys (a JWKS or a JSON array of JWKs); default: the "
    "public parts of BW_HISTORY_KEYS.",
)
@click.option("--json", "as_json", is_flag=True, help="JSON instead of tables.")
def verify_history_command(services: Sequence[str], keys_file: Path | None, as_json: bool) -> None:
    """Check each service's hash chain and signed tree heads (DATABASE_URL); name the first
    event altered, removed or reordered; exit 1 on any failure."""
    targets = Targets.from_environment()
    trusted = _trusted_keys(keys_file)
    try:
        reports = asyncio.run(
            verify_services(targets.database_url, list(services) or list(SERVICE_PORTS), trusted)
        )
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        raise click.ClickException(f"{type(error).__name__}: {error}") from error
    if as_json:
        console.print_json(json.dumps(_as_json(reports)))
    else:
        print_reports(reports)
    if not all(report.ok for report in reports):
        raise SystemExit(1)
