"""Root pytest configuration: every test (libs/, services/, tests/, tools/) gets the real-server
fixtures from `tools.testing` (pg_server_url, database_url, nats_url, subject_prefix, …).

Services default to production behaviour (they refuse the public development JWT secret); the
tests say `BW_ENVIRONMENT=development` explicitly, here, before any test module is imported, so
that every test and every service process a test starts (they inherit the environment) gets it.

An idle consumer's fetch asks again every `BW_EVENTS_FETCH_SECONDS` (2 s in production), and a
service's stop lets each fetch in flight run out: at a quarter of a second, a test's service
stops in that much instead of 2 s (hundreds of tests start and stop one)."""

import os

import pytest

os.environ.setdefault("BW_ENVIRONMENT", "development")
os.environ.setdefault("BW_EVENTS_FETCH_SECONDS", "0.25")

pytest_plugins = ["tools.testing"]

# Fixtures that start or reach a real server: a test that uses one (directly or through another
# fixture) is an integration test, wherever its file lives, and is marked so here rather than
# file by file (a file that forgot its marker used to run with the unit tests).
REAL_SERVER_FIXTURES = frozenset(
    {
        "pg_server_url",
        "nats_server_url",
        "database_url",
        "nats_url",
        "subject_prefix",
        "restartable_nats",
        "restartable_postgres",
        "nats_cluster",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        in_integration_folder = "integration" in item.path.parts
        if in_integration_folder or fixtures & REAL_SERVER_FIXTURES:
            item.add_marker(pytest.mark.integration)
