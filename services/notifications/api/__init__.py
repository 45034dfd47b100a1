"""FastAPI routers of notifications, one per resource: webhook endpoints, messages, deliveries.
Each route authorizes the path (admins, or a buyer user for its own buyer), builds a command and
runs it (`RunCommand`), and shapes the answer; reads go through `queries` on the store. Another
buyer's endpoint, message or delivery is a 404 (never a 403)."""

from __future__ import annotations

from services.notifications.api.deliveries import router as deliveries_router
from services.notifications.api.endpoints import router as endpoints_router
from services.notifications.api.messages import router as messages_router

ROUTERS = [endpoints_router, messages_router, deliveries_router]
