"""Root pytest configuration: every test (libs/, services/, tests/, tools/) gets the real-server
fixtures from `tools.testing` (pg_server_url, database_url, nats_url, subject_prefix, …).

Services default to production behaviour (they refuse the public development JWT secret); the
tests say `BW_ENVIRONMENT=development` explicitly, here, before any test module is imported, so
that every test and every service process a test starts (they inherit the environment) gets it.

An idle consumer's fetch asks again every `BW_EVENTS_FETCH_SECONDS` (2 s in production), and a
service's stop lets each fetch in flight run out: at a quarter of a second, a test's service
stops in that much instead of 2 s (hundreds of tests start and stop one)."""

import os

os.environ.setdefault("BW_ENVIRONMENT", "development")
os.environ.setdefault("BW_EVENTS_FETCH_SECONDS", "0.25")

pytest_plugins = ["tools.testing"]
