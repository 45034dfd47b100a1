"""A stand-in service: `migrate` records itself in the database, `serve` answers `/readyz` and
`/docs` over HTTP and keeps a grandchild process (to prove the dev stack stops whole process groups).

FAKE_SERVICE_CRASH=<name> makes that service exit with code 3 right after it starts serving."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import asyncpg
import nats


async def migrate(name: str) -> None:
    connection = await asyncpg.connect(os.environ["DATABASE_URL"], timeout=10)
    try:
        await connection.execute(f"CREATE TABLE IF NOT EXISTS migrated_{name} (at timestamptz)")
        await connection.execute(f"INSERT INTO migrated_{name} VALUES (now())")
    finally:
        await connection.close()
    print(f"{name}: migrated", flush=True)


async def serve(name: str) -> None:
    client = await nats.connect(os.environ["NATS_URL"], connect_timeout=5, allow_reconnect=False)
    await client.close()
    helper = await asyncio.create_subprocess_exec("sleep", "600")
    print(f"{name}: helper pid {helper.pid}", flush=True)
    if os.environ.get("FAKE_SERVICE_CRASH") == name:
        # the others first: the test checks that a crash stops services that were serving
        await _others_serving(name)
        print(f"{name}: crashing on purpose", flush=True)
        sys.exit(3)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request_line = await reader.readline()
        path = request_line.split(b" ")[1].decode() if request_line.count(b" ") >= 2 else "/"
        status = "200 OK" if path in ("/readyz", "/docs") else "404 Not Found"
        writer.write(
            f"HTTP/1.1 {status}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok".encode()
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", int(os.environ["PORT"]))
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    print(f"{name}: serving on port {os.environ['PORT']}", flush=True)
    async with server:
        await stopping.wait()
    print(f"{name}: stopped", flush=True)


async def _others_serving(name: str, timeout: float = 30.0) -> None:
    """Wait until the other stand-ins (BW_DEVSTACK_SERVICES: name=port, …) accept connections."""
    ports = [
        int(port)
        for entry in os.environ.get("BW_DEVSTACK_SERVICES", "").split(",")
        if "=" in entry
        for other, port in [entry.split("=", 1)]
        if other != name and other in ("alpha", "beta")
    ]
    deadline = asyncio.get_running_loop().time() + timeout
    for port in ports:
        while asyncio.get_running_loop().time() < deadline:
            try:
                _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            break


def main(name: str) -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "migrate":
        asyncio.run(migrate(name))
    elif command == "serve":
        asyncio.run(serve(name))
    else:
        sys.exit(f"usage: python -m tools.tests.fake_services.{name} migrate|serve")
