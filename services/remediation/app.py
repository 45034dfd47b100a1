from services.remediation.service import SERVICE

create_service_app = SERVICE.app
MIGRATIONS = SERVICE.migrations
