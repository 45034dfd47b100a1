"""Temporary shim for code outside this service (the lead removes it): the app and the migrations
come from the service definition (service.py)."""

from services.assessment.service import SERVICE

create_service_app = SERVICE.app
MIGRATIONS = SERVICE.migrations
