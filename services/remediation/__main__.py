"""`python -m services.remediation serve` runs the service on PORT; `migrate` upgrades its schema."""

from __future__ import annotations

import sys

from libs.servicekit import run
from libs.servicekit.migrations import run_migrations
from services.remediation.app import MIGRATIONS, create_service_app
from services.remediation.settings import RemediationSettings
from services.remediation.tables import SCHEMA


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "serve"
    settings = RemediationSettings()
    if command == "migrate":
        run_migrations(settings.database_url, MIGRATIONS, SCHEMA)
        return 0
    if command == "serve":
        run(lambda: create_service_app(settings), settings)
        return 0
    print(
        f"usage: python -m services.remediation [serve|migrate], not {command!r}", file=sys.stderr
    )
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
