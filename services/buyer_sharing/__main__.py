"""`python -m services.buyer_sharing [serve | migrate | rebuild]`: run the service on PORT, upgrade
its schema, or rebuild every read model from the event history with a progress bar."""

import os

from services.buyer_sharing.service import SERVICE

# uvicorn would otherwise replace the TCP peer with X-Forwarded-For from the addresses in
# FORWARDED_ALLOW_IPS (loopback by default: any local caller could name itself). The service
# decides whom to believe from BW_TRUSTED_PROXIES (ratelimit.client_address), so uvicorn trusts
# nobody here.
os.environ["FORWARDED_ALLOW_IPS"] = ""

raise SystemExit(SERVICE.main())
