"""The OpenAPI document of every service, committed under `docs/openapi/` so that integrators can
generate clients without running anything: `python3 bw.py openapi` writes them, and
`python3 bw.py openapi --check` fails when one is not what the code says (a test runs the same
check in CI). Building an app connects to nothing, so this needs no server.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DIRECTORY = ROOT / "docs" / "openapi"


def services() -> list[str]:
    """Every service: each declares itself in `services/<name>/service.py`."""
    return sorted(
        path.parent.name
        for path in (ROOT / "services").glob("*/service.py")
        if (path.parent / "__init__.py").exists()
    )


def document(service: str) -> dict[str, Any]:
    # Only the documents are wanted: development settings are enough to build the app.
    os.environ.setdefault("BW_ENVIRONMENT", "development")
    module = importlib.import_module(f"services.{service}.service")
    app = module.SERVICE.app()
    openapi: dict[str, Any] = app.openapi()
    return openapi


def render(openapi: dict[str, Any]) -> str:
    return json.dumps(openapi, indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def path_for(service: str) -> Path:
    return DIRECTORY / f"{service}.json"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 bw.py openapi", description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if a document is stale")
    parser.add_argument(
        "--service",
        action="append",
        choices=services(),
        help="only this service's document (repeat for several; default: every service)",
    )
    args = parser.parse_args(argv)
    stale = []
    for service in args.service or services():
        text = render(document(service))
        path = path_for(service)
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(path.relative_to(ROOT))
            continue
        DIRECTORY.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print("out of date (run python3 bw.py openapi): " + ", ".join(map(str, stale)))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
