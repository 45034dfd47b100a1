"""`python -m services.buyer_sharing [serve | migrate | rebuild]`: run the service on PORT, upgrade
its schema, or rebuild every read model from the event history with a progress bar."""

from __future__ import annotations

import asyncio
import sys
import time

from libs.servicekit.app import run
from libs.servicekit.migrations import run_migrations
from services.buyer_sharing.app import MIGRATIONS, build_registry, create_service_app
from services.buyer_sharing.settings import BuyerSharingSettings
from services.buyer_sharing.tables import SCHEMA


async def _rebuild(settings: BuyerSharingSettings) -> None:
    from rich.progress import Progress

    from libs.events.nats import NatsConnection
    from libs.servicekit.app import tune_garbage_collector
    from libs.servicekit.database import create_engine
    from services.buyer_sharing.consumers import rebuild

    # as the services do: the many short-lived objects of a history read would otherwise make
    # the collector traverse every module and class again and again (1 M events: 54 s -> 39 s)
    tune_garbage_collector()
    engine = create_engine(settings)
    nats = NatsConnection(settings.nats_url, name="buyer_sharing-rebuild")
    await nats.start()
    started = time.perf_counter()
    try:
        with Progress() as bar:
            tasks: dict[str, object] = {}

            def progress(phase: str, done: int, total: int) -> None:
                if phase not in tasks:
                    tasks[phase] = bar.add_task(phase, total=total)
                bar.update(tasks[phase], completed=done, total=total)  # type: ignore[arg-type]

            report = await rebuild(
                engine=engine,
                bus=nats,
                registry=build_registry(),
                subject_prefix=settings.subject_prefix,
                progress=progress,
            )
        elapsed = time.perf_counter() - started
        upstream = ", ".join(f"{name} {count}" for name, count in report.upstream_events.items())
        skipped = sum(report.upstream_skipped.values())
        print(
            f"rebuilt from {report.events} events in {elapsed:.1f} s: {report.own_events} own, "
            f"upstream {upstream} ({skipped} upstream events of types not read here passed over)"
        )
    finally:
        await nats.stop()
        await engine.dispose()


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "serve"
    settings = BuyerSharingSettings()
    if command == "migrate":
        run_migrations(settings.database_url, MIGRATIONS, SCHEMA)
        return 0
    if command == "serve":
        run(lambda: create_service_app(settings), settings)
        return 0
    if command == "rebuild":
        asyncio.run(_rebuild(settings))
        return 0
    print(
        f"usage: python -m services.buyer_sharing [serve|migrate|rebuild], not {command!r}",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
