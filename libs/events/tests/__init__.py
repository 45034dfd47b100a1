"""Tests of the event library: unit (envelope) and integration (real PostgreSQL and NATS)."""
