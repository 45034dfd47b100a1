"""`python -m services.notifications [serve | migrate | rebuild]`: run the service on PORT,
upgrade its schema, or rebuild its endpoint read model from its events."""

from services.notifications.service import SERVICE

raise SystemExit(SERVICE.main())
