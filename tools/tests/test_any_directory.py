"""The README's commands work from any directory, as root or not: a fresh clone (of HEAD, so
commit first) in a 0700 `mktemp -d` directory, like a home directory other users cannot traverse,
runs `bw.py test` with embedded PostgreSQL, which as root runs as an unprivileged user from
outside the clone."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from tools.devstack.config import REPO_ROOT
from tools.embedded import EmbeddedPostgres, free_port
from tools.postgres_as_root import cluster_home, sweep_orphan_clusters

# one small test file that needs PostgreSQL (and NATS) from the fixtures
SMALL_TEST = "tools/tests/test_testing_fixtures.py"
CLONE_RUN_TIMEOUT = 90
UNPRIVILEGED_USER = "nobody"

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="the server-user path is taken as root")


def _without_configured_servers() -> dict[str, str]:
    """The environment of a fresh shell: embedded servers, never Docker or the machine's."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "NATS_URL", "VIRTUAL_ENV"} and not key.startswith("PYTEST")
    }
    environment["DOCKER_HOST"] = "unix:///nonexistent/docker.sock"  # no testcontainers
    return environment


@pytest.fixture
def private_directory() -> Iterator[Path]:
    """A fresh `mktemp -d`: mode 0700, so nobody but its owner can traverse it."""
    directory = Path(tempfile.mkdtemp(prefix="bw-any-dir-"))
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def _clone(destination: Path) -> None:
    if shutil.which("git") is None or not (REPO_ROOT / ".git").exists():
        pytest.skip("needs git and this repository's history to clone")
    command = ["git", "clone", "-q", str(REPO_ROOT), str(destination)]
    subprocess.run(command, check=True, timeout=60, capture_output=True)


def test_bw_test_runs_from_a_fresh_clone_in_a_private_directory(private_directory: Path) -> None:
    clone = private_directory / "p"
    _clone(clone)
    result = subprocess.run(
        [sys.executable, "bw.py", "test", SMALL_TEST, "-q", "-p", "no:cacheprovider"],
        cwd=clone,
        env=_without_configured_servers(),
        capture_output=True,
        text=True,
        timeout=CLONE_RUN_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert " passed" in result.stdout and "error" not in result.stdout.lower()
    # nothing was opened up on the way: the private directory is still private
    assert stat.S_IMODE(private_directory.stat().st_mode) == 0o700


def _python_for(user: str) -> str | None:
    """A Python 3.11+ that `user` can run (ours may live in root's private pyenv)."""
    for candidate in (sys.executable, shutil.which("python3"), "/usr/bin/python3"):
        if candidate is None:
            continue
        probe = subprocess.run(
            [
                "runuser",
                "-u",
                user,
                "--",
                candidate,
                "-c",
                "import sys; assert sys.version_info >= (3, 11)",
            ],
            capture_output=True,
            timeout=30,
            check=False,
        )
        if probe.returncode == 0:
            return candidate
    return None


def _uv_cache() -> Path | None:
    uv = REPO_ROOT / ".tools" / "bin" / "uv"
    if not uv.exists():
        return None
    found = subprocess.run(
        [str(uv), "cache", "dir"], capture_output=True, text=True, timeout=30, check=False
    )
    cache = Path(found.stdout.strip())
    return cache if found.returncode == 0 and cache.is_dir() else None


def _roomy_memory_directory() -> Path | None:
    """`/dev/shm` when it is there with room to spare, else None (the default temporary
    directory): the user's copy of the package cache (hundreds of MB in tens of thousands of
    files) and the venv made from it take seconds there, where a slow disk took half a minute."""
    shm = Path("/dev/shm")  # noqa: S108 - only as mkdtemp's parent: a fresh 0700 directory
    try:
        roomy = shutil.disk_usage(shm).free > 4 * 2**30
    except OSError:
        return None
    return shm if roomy and shm.is_dir() and os.access(shm, os.W_OK | os.X_OK) else None


def test_bw_test_runs_as_an_unprivileged_user_from_its_private_clone() -> None:
    if os.geteuid() != 0:
        pytest.skip("we already are not root: the test above ran as an unprivileged user")
    if shutil.which("runuser") is None:
        pytest.skip("runuser is needed to become an unprivileged user")
    python = _python_for(UNPRIVILEGED_USER)
    cache = _uv_cache()
    if python is None or cache is None:
        pytest.skip(f"no Python 3.11 usable by {UNPRIVILEGED_USER}, or no uv cache to lend it")
    # 0700, given to the user
    home = Path(tempfile.mkdtemp(prefix="bw-any-dir-user-", dir=_roomy_memory_directory()))
    try:
        # Its own copy of our package cache, so that `uv sync` needs no network, and its own
        # clone: root makes it (this repository may itself sit in a directory the user cannot
        # enter, as CI's private clone does) and hands it over.
        shutil.copytree(cache, home / "uv-cache", symlinks=True)
        subprocess.run(
            ["git", "clone", "-q", str(REPO_ROOT), str(home / "p")],
            check=True,
            timeout=60,
            capture_output=True,
        )
        subprocess.run(["chown", "-R", UNPRIVILEGED_USER, str(home)], check=True, timeout=60)
        environment = {
            **_without_configured_servers(),
            "HOME": str(home),
            "UV_CACHE_DIR": str(home / "uv-cache"),
        }
        environment.pop("UV_PYTHON", None)
        as_user = ["runuser", "-u", UNPRIVILEGED_USER, "--", "env", f"HOME={home}"]
        result = subprocess.run(
            [*as_user, python, "bw.py", "test", SMALL_TEST, "-q", "-p", "no:cacheprovider"],
            cwd=home / "p",
            env=environment,
            capture_output=True,
            text=True,
            timeout=CLONE_RUN_TIMEOUT,
            check=False,
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert " passed" in result.stdout
    finally:
        shutil.rmtree(home, ignore_errors=True)


async def _data_directory(url: str) -> str:
    connection = await asyncpg.connect(url, timeout=10)
    try:
        return str(await connection.fetchval("SELECT current_setting('data_directory')"))
    finally:
        await connection.close(timeout=10)


@as_root
def test_postgres_starts_from_an_untraversable_data_directory(private_directory: Path) -> None:
    data_dir = private_directory / "deep" / "postgres"
    server = EmbeddedPostgres(data_dir, free_port(), durable=False)
    server.start()
    try:
        assert asyncio.run(_data_directory(server.url)) == str(cluster_home(data_dir) / "pgdata")
        assert server.process is not None
        assert Path(f"/proc/{server.process.pid}").stat().st_uid != 0  # the server user
    finally:
        server.stop()
    assert (data_dir / "pgdata").is_symlink()
    assert stat.S_IMODE(private_directory.stat().st_mode) == 0o700
    # the cluster outlives a stop (a devstack keeps its data) …
    assert (cluster_home(data_dir) / "pgdata" / "PG_VERSION").exists()
    # … and goes once its data directory is gone
    shutil.rmtree(private_directory)
    assert cluster_home(data_dir) in sweep_orphan_clusters()
    assert not cluster_home(data_dir).exists()


@as_root
def test_the_sweep_keeps_clusters_in_use(private_directory: Path) -> None:
    kept = EmbeddedPostgres(private_directory / "kept", free_port(), durable=False)
    running = EmbeddedPostgres(private_directory / "running", free_port(), durable=False)
    kept.start()
    kept.stop()
    running.start()
    try:
        # the running server's data directory is deleted under it: kept while it runs
        (running.data_dir / "pgdata").unlink()
        swept = sweep_orphan_clusters()
        assert cluster_home(kept.data_dir) not in swept
        assert cluster_home(running.data_dir) not in swept
        assert cluster_home(running.data_dir).exists()
    finally:
        running.stop()
    assert cluster_home(running.data_dir) in sweep_orphan_clusters()
