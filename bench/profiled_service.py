"""`python -m bench.profiled_service serve`: the service named by `$BW_PROFILE_SERVICE` run by its
own command line (its definition's `main`) under cProfile, so the dev stack starts it exactly as it starts the service; the
profile is written to `$BW_PROFILE_OUT` when the process ends (SIGTERM's graceful shutdown
included)."""

from __future__ import annotations

import cProfile
import importlib
import os
import signal
import sys


def main() -> int:
    service = os.environ["BW_PROFILE_SERVICE"]
    # the declaration, not `__main__` (importing that runs the service, unprofiled)
    definition = importlib.import_module(f"services.{service}.service").SERVICE
    profile = cProfile.Profile()

    def stop(_signum: int, _frame: object) -> None:
        raise SystemExit(0)

    # uvicorn drains on SIGTERM, then raises the signal again under the handler it found at
    # start: this one, so the process ends through `finally` and the profile is written
    signal.signal(signal.SIGTERM, stop)
    try:
        code = int(profile.runcall(definition.main, sys.argv[1:]))
    finally:
        profile.dump_stats(os.environ["BW_PROFILE_OUT"])
    return code


if __name__ == "__main__":
    sys.exit(main())
