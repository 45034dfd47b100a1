"""`python -m services.buyer_sharing [serve | migrate | rebuild]`: run the service on PORT, upgrade
its schema, or rebuild every read model from the event history with a progress bar."""

from services.buyer_sharing.service import SERVICE

raise SystemExit(SERVICE.main())
