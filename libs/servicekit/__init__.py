"""FastAPI plumbing shared by every service: the service definition and the app, runtime and
command line it assembles (`service`), settings, auth, problem+json errors, idempotency, ETags and
cursors, telemetry and migrations. Import what you need from its module."""
