"""`python -m services.remediation [serve | migrate | rebuild]`: serve on PORT, upgrade the schema,
or rebuild the read models from the event history (the service definition's command line)."""

from services.remediation.service import SERVICE

raise SystemExit(SERVICE.main())
