"""The operator CLI on click (already locked through uvicorn) with rich tables and progress bars.

Reaches PostgreSQL and NATS as the services do (DATABASE_URL, NATS_URL, BW_SUBJECT_PREFIX) and each
service's admin API at BW_<SERVICE>_URL (default http://127.0.0.1:<port>) with `--token` /
BW_OPS_TOKEN, or a development admin token minted with BW_JWT_SECRET.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Coroutine, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from libs.servicekit import tokens
from tools.ops.client import OperationFailed, ServiceClient, admin_token
from tools.ops.import_command import import_history
from tools.ops.status import consumer_lag, outbox_backlog
from tools.ops.targets import SERVICE_PORTS, Targets, runnable_services
from tools.ops.verify_history import verify_history_command

ROOT = Path(__file__).resolve().parents[2]
MIGRATE_TIMEOUT_SECONDS = 300
REBUILD_TIMEOUT_SECONDS = 3600

T = TypeVar("T")
console = Console()
SERVICE = click.Choice(list(SERVICE_PORTS))
TOKEN = click.option(
    "--token",
    envvar="BW_OPS_TOKEN",
    default=None,
    help="Admin bearer token (default: a development token minted with BW_JWT_SECRET).",
)


def _run(work: Coroutine[Any, Any, T]) -> T:
    """Run async work; a service's refusal or an unreachable server is a one-line error."""
    try:
        return asyncio.run(work)
    except OperationFailed as error:
        raise click.ClickException(str(error)) from error
    except (OSError, TimeoutError) as error:
        raise click.ClickException(f"{type(error).__name__}: {error}") from error


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def _service_command(service: str, command: str, timeout: float) -> int:
    """`python -m services.<service> <command>` in this checkout, its output on the terminal."""
    completed = subprocess.run(
        [sys.executable, "-m", f"services.{service}", command],
        cwd=ROOT,
        timeout=timeout,
        check=False,
    )
    return completed.returncode


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Operate the Better Work services: tokens, migrations, dead letters, rebuilds, lag, imports."""


@cli.command(
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
)
@click.argument("arguments", nargs=-1, type=click.UNPROCESSED)
def token(arguments: Sequence[str]) -> None:
    """Mint a development JWT (the options of `bw.py token`, see `ops token --help`)."""
    sys.exit(tokens.main(list(arguments)))


@cli.command()
@click.option("--service", "services", type=SERVICE, multiple=True, help="Default: every service.")
def migrate(services: Sequence[str]) -> None:
    """Apply each service's database migrations (DATABASE_URL)."""
    chosen = list(services) or runnable_services()
    failed = []
    with _progress() as progress:
        task = progress.add_task("migrations", total=len(chosen))
        for service in chosen:
            progress.update(task, description=f"migrating {service}")
            if _service_command(service, "migrate", MIGRATE_TIMEOUT_SECONDS) != 0:
                failed.append(service)
            progress.advance(task)
        progress.update(task, description="migrations")
    if failed:
        raise click.ClickException(f"migrations failed: {', '.join(failed)}")
    console.print(f"migrated: {', '.join(chosen)}")


@cli.command()
@click.argument("service", type=SERVICE)
def rebuild(service: str) -> None:
    """Rebuild a service's read models from its events (the service's own `rebuild`)."""
    if service not in runnable_services():
        raise click.ClickException(f"{service} is not in this checkout")
    code = _service_command(service, "rebuild", REBUILD_TIMEOUT_SECONDS)
    if code != 0:
        raise click.ClickException(f"{service} rebuild failed (exit {code})")


@cli.group("dead-letters")
def dead_letters() -> None:
    """Events a service's consumers parked after repeated failures."""


@dead_letters.command("list")
@click.argument("service", type=SERVICE)
@click.option("--all", "include_replayed", is_flag=True, help="Also the replayed ones.")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
@TOKEN
def list_dead_letters(
    service: str, include_replayed: bool, as_json: bool, token: str | None
) -> None:
    """List SERVICE's dead letters, oldest first."""

    async def work() -> list[dict[str, Any]]:
        async with ServiceClient(service, admin_token(token)) as client:
            return await client.dead_letters(include_replayed)

    letters = _run(work())
    if as_json:
        console.print_json(data=letters)
        return
    table = Table(
        "id", "consumer", "event", "subject", "attempts", "failed at", "error", "replayed"
    )
    for letter in letters:
        table.add_row(
            str(letter["id"]),
            letter["consumer"],
            letter["event_id"],
            letter["nats_subject"],
            str(letter["attempts"]),
            letter["failed_at"],
            (letter["replay_error"] or letter["error"])[:80],
            letter["replayed_at"] or "",
        )
    console.print(table)
    console.print(f"{len(letters)} dead letter(s) in {service}")


@dead_letters.command("replay")
@click.argument("service", type=SERVICE)
@click.argument("ids", nargs=-1, type=int)
@click.option("--all", "replay_all", is_flag=True, help="Every open dead letter of SERVICE.")
@TOKEN
def replay_dead_letters(
    service: str, ids: Sequence[int], replay_all: bool, token: str | None
) -> None:
    """Run the consumer's handler again for parked events (exactly once in effect)."""
    if not ids and not replay_all:
        raise click.UsageError("name dead letter ids, or --all")

    async def work() -> tuple[list[int], list[str]]:
        async with ServiceClient(service, admin_token(token)) as client:
            chosen = list(ids) or [letter["id"] for letter in await client.dead_letters()]
            replayed: list[int] = []
            failures: list[str] = []
            with _progress() as progress:
                task = progress.add_task(f"replaying {service}", total=len(chosen))
                for dead_letter_id in chosen:
                    try:
                        await client.replay(dead_letter_id)
                        replayed.append(dead_letter_id)
                    except OperationFailed as error:
                        failures.append(f"{dead_letter_id}: {error}")
                    progress.advance(task)
            return replayed, failures

    replayed, failures = _run(work())
    console.print(f"replayed {len(replayed)}: {', '.join(map(str, replayed)) or '-'}")
    if failures:
        raise click.ClickException("still parked:\n" + "\n".join(failures))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="JSON instead of tables.")
def lag(as_json: bool) -> None:
    """Consumer lag on JetStream and outbox backlog and open dead letters per service."""
    targets = Targets.from_environment()

    async def work() -> tuple[list[Any], list[Any]]:
        return await asyncio.gather(
            consumer_lag(targets.nats_url, targets.subject_prefix),
            outbox_backlog(targets.database_url),
        )

    consumers, backlogs = _run(work())
    if as_json:
        console.print_json(
            data={
                "consumers": [
                    {**vars(row), "lag": row.lag, "last_ack": _iso(row.last_ack)}
                    for row in consumers
                ],
                "outbox": [vars(row) for row in backlogs],
            }
        )
        return
    consumer_table = Table(
        "stream",
        "consumer",
        "lag",
        "pending",
        "ack pending",
        "redelivered",
        "last ack",
        title="JetStream consumers",
    )
    for row in consumers:
        consumer_table.add_row(
            row.stream,
            row.consumer,
            str(row.lag),
            str(row.pending),
            str(row.ack_pending),
            str(row.redelivered),
            _iso(row.last_ack) or "-",
        )
    outbox_table = Table(
        "service", "outbox entries", "oldest (s)", "open dead letters", title="Outbox"
    )
    for backlog in backlogs:
        age = backlog.oldest_age_seconds
        outbox_table.add_row(
            backlog.service,
            str(backlog.entries),
            f"{age:.1f}" if age is not None else "-",
            str(backlog.open_dead_letters),
        )
    console.print(consumer_table)
    console.print(outbox_table)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


@cli.group()
def webhooks() -> None:
    """Webhook endpoints of the notifications service."""


@webhooks.command("disabled")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
@TOKEN
def disabled_endpoints(as_json: bool, token: str | None) -> None:
    """List the disabled webhook endpoints of every buyer."""

    async def work() -> list[dict[str, Any]]:
        async with ServiceClient("notifications", admin_token(token)) as client:
            return [e for e in await client.webhook_endpoints() if not e["enabled"]]

    endpoints = _run(work())
    if as_json:
        console.print_json(data=endpoints)
        return
    table = Table("endpoint", "buyer", "url", "reason", "since")
    for endpoint in endpoints:
        table.add_row(
            endpoint["endpoint_id"],
            endpoint["buyer_id"],
            endpoint["url"],
            endpoint["disabled_reason"] or "",
            endpoint["updated_at"],
        )
    console.print(table)
    console.print(f"{len(endpoints)} disabled endpoint(s)")


@webhooks.command("recover")
@click.argument("endpoint_ids", nargs=-1)
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"]),
    required=True,
    help="Queue again the messages that failed since this time (UTC unless an offset is given).",
)
@click.option("--all-disabled", is_flag=True, help="Every disabled endpoint.")
@click.option(
    "--enable", is_flag=True, help="Re-enable each endpoint first (recovery needs it enabled)."
)
@TOKEN
def recover(
    endpoint_ids: Sequence[str],
    since: datetime,
    all_disabled: bool,
    enable: bool,
    token: str | None,
) -> None:
    """Queue again an endpoint's failed messages since a time (once its receiver is back)."""
    if not endpoint_ids and not all_disabled:
        raise click.UsageError("name endpoint ids, or --all-disabled")
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)

    async def work() -> dict[str, int]:
        async with ServiceClient("notifications", admin_token(token)) as client:
            chosen = list(endpoint_ids) or [
                e["endpoint_id"] for e in await client.webhook_endpoints() if not e["enabled"]
            ]
            queued: dict[str, int] = {}
            with _progress() as progress:
                task = progress.add_task("recovering", total=len(chosen))
                for endpoint_id in chosen:
                    if enable:
                        await client.enable(endpoint_id)
                    queued[endpoint_id] = await client.recover(endpoint_id, since)
                    progress.advance(task)
            return queued

    for endpoint_id, count in _run(work()).items():
        console.print(f"{endpoint_id}: {count} message(s) queued again")


cli.add_command(import_history)
cli.add_command(verify_history_command)


def main(argv: Sequence[str] | None = None) -> None:
    cli.main(args=list(argv) if argv is not None else None, prog_name="bw.py ops")
