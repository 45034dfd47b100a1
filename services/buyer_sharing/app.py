"""Temporary shim for code outside this service (the lead removes it): the app and migrations
now come from the service definition (service.py)."""

from services.buyer_sharing.service import SERVICE

create_service_app = SERVICE.app
MIGRATIONS = SERVICE.migrations
