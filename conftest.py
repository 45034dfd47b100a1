"""Root pytest configuration: every test (libs/, services/, tests/, tools/) gets the real-server
fixtures from `tools.testing` (pg_server_url, database_url, nats_url, subject_prefix, …).

Services default to production behaviour (they refuse the public development JWT secret); the
tests say `BW_ENVIRONMENT=development` explicitly, here, before any test module is imported, so
that every test and every service process a test starts (they inherit the environment) gets it."""

import os

os.environ.setdefault("BW_ENVIRONMENT", "development")

pytest_plugins = ["tools.testing"]
