"""Root pytest configuration: every test (libs/, services/, tests/, tools/) gets the real-server
fixtures from `tools.testing` (pg_server_url, database_url, nats_url, subject_prefix, …)."""

pytest_plugins = ["tools.testing"]
