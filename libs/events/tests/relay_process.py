"""A relay in its own process, so a test can kill -9 it mid-batch: python -m libs.events.tests.relay_process DB NATS PREFIX"""

from __future__ import annotations

import asyncio
import sys

from sqlalchemy.ext.asyncio import create_async_engine

from libs.events import NatsConnection, OutboxRelay
from libs.events.tests.conftest import SCHEMA, asyncpg_url


async def main(database_url: str, nats_url: str) -> None:
    engine = create_async_engine(asyncpg_url(database_url))
    nats = NatsConnection(nats_url, name="relay-process")
    await nats.start()
    relay = OutboxRelay(engine=engine, schema=SCHEMA, nats=nats, batch_size=2000)
    print("relay-process: started", flush=True)
    while True:
        await relay.relay_batch()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
