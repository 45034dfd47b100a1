"""Stand-in services for the dev stack's own tests: they honour the service contract
(`migrate` / `serve`, DATABASE_URL, NATS_URL, PORT, `/readyz`) with nothing but asyncpg and nats-py."""
