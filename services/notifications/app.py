from services.notifications.service import SERVICE

create_service_app = SERVICE.app
MIGRATIONS = SERVICE.migrations
