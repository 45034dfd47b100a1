#!/usr/bin/env python3
"""Bootstrap and task runner: needs nothing but Python 3.11+.

    python3 bw.py up       run the whole system (embedded NATS + PostgreSQL unless NATS_URL/DATABASE_URL)
    python3 bw.py test     run all tests (extra arguments go to pytest)
    python3 bw.py bench    run the benchmarks (`bench services`: the services over REST and NATS;
                           `bench notifications`: webhook deliveries/s and latency)
    python3 bw.py demo     play the whole story against the running system (after `up`), step by step
    python3 bw.py seed     create a realistic programme through the running services (see --help)
    python3 bw.py lint     ruff, format check, mypy
    python3 bw.py token    mint a development JWT (see --help)
    python3 bw.py ops      operator CLI: migrations, dead letters, rebuilds, lag, webhooks (--help)
    python3 bw.py verify   verify a report's credential bundle offline: python3 bw.py verify FILE
    python3 bw.py openapi  write docs/openapi/<service>.json from the code (--check: fail if stale)
    python3 bw.py asyncapi write docs/asyncapi.yaml from the public contracts (--check: fail if stale)

The first run creates `.venv/` from the pinned lock file (uv.lock) with a pinned uv.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
TOOLS_VENV = ROOT / ".tools"
VENV = ROOT / ".venv"
UV_VERSION = "0.13.9"


def _bin(venv: Path, name: str) -> Path:
    return venv / ("Scripts" if os.name == "nt" else "bin") / name


def _run(cmd: list[str], **kwargs: object) -> None:
    subprocess.run(cmd, check=True, **kwargs)  # type: ignore[call-overload]


def ensure_environment() -> Path:
    """Create the tool venv with a pinned uv, then sync `.venv` exactly to uv.lock."""
    if sys.version_info < (3, 11):  # noqa: UP036 - this file must run on any python3 to say so
        sys.exit("Python 3.11 or newer is required")
    uv = _bin(TOOLS_VENV, "uv")
    if not uv.exists():
        print(f"bw: installing uv {UV_VERSION} into {TOOLS_VENV.name}/", flush=True)
        _run([sys.executable, "-m", "venv", str(TOOLS_VENV)])
        _run(
            [
                str(_bin(TOOLS_VENV, "python")),
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                f"uv=={UV_VERSION}",
            ]
        )
    env = dict(os.environ, UV_PROJECT_ENVIRONMENT=str(VENV))
    env.setdefault("UV_PYTHON", sys.executable)
    # Bytecode compiled once here (an up-to-date venv is checked in well under a second): where
    # PYTHONDONTWRITEBYTECODE is set, as on many CI machines, or the venv is read-only, every
    # process would otherwise compile each library it imports again (a service's start spends
    # about half its CPU on that; the tests start dozens of processes).
    env.setdefault("UV_COMPILE_BYTECODE", "1")
    _run([str(uv), "sync", "--frozen", "--quiet"], cwd=ROOT, env=env)
    return _bin(VENV, "python")


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(__doc__)
        return 0
    command, rest = argv[0], argv[1:]
    python = str(ensure_environment())
    commands = {
        "up": [python, "-m", "tools.devstack", "up", *rest],
        "test": [python, "-m", "pytest", *rest],
        "bench": (
            [python, "-m", "bench.service_bench", *rest[1:]]
            if rest[:1] == ["services"]
            else [python, "-m", "bench.notifications_bench", *rest[1:]]
            if rest[:1] == ["notifications"]
            else [python, "-m", "bench", *rest]
        ),
        "seed": [python, "-m", "bench.seed", *rest],
        "demo": [python, "-m", "tools.demo", *rest],
        "token": [python, "-m", "libs.servicekit.tokens", *rest],
        "asyncapi": [python, "-m", "tools.asyncapi", *rest],
        "openapi": [python, "-m", "tools.openapi", *rest],
        "migrate": [python, "-m", "tools.devstack", "migrate", *rest],
        "ops": [python, "-m", "tools.ops", *rest],
        "verify": [python, "-m", "tools.verify", f"--cwd={os.getcwd()}", *rest],
    }
    if command == "lint":
        for cmd in (
            [python, "-m", "ruff", "check", "."],
            [python, "-m", "ruff", "format", "--check", "."],
            [python, "-m", "mypy", "."],
        ):
            code = subprocess.call(cmd, cwd=ROOT)
            if code:
                return code
        return 0
    if command not in commands:
        print(f"bw: unknown command {command!r}\n{__doc__}", file=sys.stderr)
        return 2
    os.chdir(ROOT)
    # exec so that Ctrl-C and signals reach the real process directly
    os.execv(commands[command][0], commands[command])  # noqa: S606 - our own venv python


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
