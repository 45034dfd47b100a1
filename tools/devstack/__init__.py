"""Local development stack: embedded PostgreSQL and NATS, each service's migrations, then every
service, with prefixed interleaved logs and an orderly shutdown (`python -m tools.devstack up`)."""
