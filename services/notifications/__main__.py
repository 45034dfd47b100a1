"""`python -m services.notifications [serve | migrate]`: run the service on PORT, or upgrade its
schema."""

from __future__ import annotations

import sys

from libs.servicekit.app import run
from libs.servicekit.migrations import run_migrations
from services.notifications.app import MIGRATIONS, create_service_app
from services.notifications.settings import NotificationsSettings
from services.notifications.tables import SCHEMA


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "serve"
    settings = NotificationsSettings()
    if command == "migrate":
        run_migrations(settings.database_url, MIGRATIONS, SCHEMA)
        return 0
    if command == "serve":
        run(lambda: create_service_app(settings), settings)
        return 0
    print(
        f"usage: python -m services.notifications [serve|migrate], not {command!r}", file=sys.stderr
    )
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
