"""A relay in its own process, so a test can kill -9 it at a known point:
python -m libs.events.tests.relay_process DB NATS

It publishes one round, waits until JetStream acknowledged all of it, prints
`relay-process: published <n>` and then waits, with the round's deletes still uncommitted, to be
killed."""

from __future__ import annotations

import asyncio
import sys

from sqlalchemy.ext.asyncio import create_async_engine

from libs.events.nats import NatsConnection
from libs.events.relay import OutboxRelay
from libs.events.tests.conftest import SCHEMA, asyncpg_url


class RelayStoppingBeforeCommit(OutboxRelay):
    async def _before_commit(self, published: int) -> None:
        print(f"relay-process: published {published}", flush=True)
        await asyncio.sleep(3600)  # the test kills the process here


async def main(database_url: str, nats_url: str) -> None:
    engine = create_async_engine(asyncpg_url(database_url))
    nats = NatsConnection(nats_url, name="relay-process")
    await nats.start()
    relay = RelayStoppingBeforeCommit(engine=engine, schema=SCHEMA, nats=nats, batch_size=2000)
    print("relay-process: started", flush=True)
    while True:
        await relay.relay_batch()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
