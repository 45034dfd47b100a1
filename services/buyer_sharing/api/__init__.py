"""FastAPI routers of buyer sharing, one module per resource (buyers, portfolio, sharing grants,
access requests, audit reliance, transparency) with their shared helpers in `common`."""
