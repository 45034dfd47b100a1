"""`python -m services.assessment serve` runs the service on PORT; `migrate` upgrades its schema."""

from __future__ import annotations

import argparse
from pathlib import Path

from libs.servicekit import run
from libs.servicekit.migrations import run_migrations
from services.assessment.app import create_service_app
from services.assessment.settings import AssessmentSettings
from services.assessment.tables import SCHEMA

MIGRATIONS = Path(__file__).parent / "migrations"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.assessment")
    parser.add_argument("command", choices=["serve", "migrate"])
    arguments = parser.parse_args()
    settings = AssessmentSettings()
    if arguments.command == "migrate":
        run_migrations(settings.database_url, MIGRATIONS, SCHEMA)
    else:
        run(create_service_app, settings)


if __name__ == "__main__":
    main()
