"""As root, PostgreSQL runs as a system user that the first run creates. Parallel runs (pytest-xdist
workers, a devstack and a test run) must all end up with that one user, and with files it owns.

Once two workers ran `useradd` at the same moment: /etc/passwd kept the second one's entry while
a cluster directory had already been given to the first one's uid, and initdb, run as the
surviving uid, could not enter it."""

from __future__ import annotations

import grp
import multiprocessing
import multiprocessing.queues
import multiprocessing.synchronize
import os
import pwd
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tools.embedded import EmbeddedPostgres, EmbeddedServerError, _ensure_system_user
from tools.postgres_as_root import ORIGIN_FILE, cluster_home, prepare_cluster_home

RACERS = 8
RACE_TIMEOUT = 120

as_root = pytest.mark.skipif(
    os.geteuid() != 0,
    reason="creating a system user and handing files to it needs root (CI runs these as root)",
)
pytestmark = as_root


def _remove_user(name: str) -> None:
    subprocess.run(["userdel", name], capture_output=True, timeout=60, check=False)
    try:
        grp.getgrnam(name)
    except KeyError:
        return
    subprocess.run(["groupdel", name], capture_output=True, timeout=60, check=False)


@pytest.fixture
def user_name() -> Iterator[str]:
    """A system user name of this test alone (at most 32 characters, as useradd wants)."""
    name = f"bwtest-{uuid.uuid4().hex[:12]}"
    try:
        yield name
    finally:
        _remove_user(name)


@pytest.fixture
def user(user_name: str) -> pwd.struct_passwd:
    return _ensure_system_user(user_name)


@pytest.fixture
def own_system_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "system-root"
    monkeypatch.setenv("BW_EMBEDDED_POSTGRES_ROOT", str(root))
    return root


# what one racer saw: its pid, then the user's uid and gid, or -1, -1 and its error
Sighting = tuple[int, int, int, str]


def _race(
    name: str,
    start: multiprocessing.synchronize.Barrier,
    results: multiprocessing.queues.Queue[Sighting],
) -> None:
    try:
        start.wait(RACE_TIMEOUT)
        user = _ensure_system_user(name)
        results.put((os.getpid(), user.pw_uid, user.pw_gid, ""))
    except BaseException as error:  # report it: the parent asserts on what every racer saw
        results.put((os.getpid(), -1, -1, repr(error)))


def _passwd_lines(name: str) -> list[str]:
    return [
        line
        for line in Path("/etc/passwd").read_text().splitlines()
        if line.split(":", 1)[0] == name
    ]


def test_racing_processes_create_one_user_and_all_see_its_uid(user_name: str) -> None:
    context = multiprocessing.get_context("spawn")  # no fork of a threaded pytest worker
    start = context.Barrier(RACERS)
    results: multiprocessing.queues.Queue[Sighting] = context.Queue()
    racers = [
        context.Process(target=_race, args=(user_name, start, results)) for _ in range(RACERS)
    ]
    for racer in racers:
        racer.start()
    try:
        seen = [results.get(timeout=RACE_TIMEOUT) for _ in racers]
    finally:
        for racer in racers:
            racer.join(RACE_TIMEOUT)
            if racer.is_alive():
                racer.kill()
    final = pwd.getpwnam(user_name)
    assert [entry for entry in seen if entry[3]] == []
    assert sorted({(uid, gid) for _pid, uid, gid, _error in seen}) == [
        (final.pw_uid, final.pw_gid)
    ], f"the racers saw {seen}, /etc/passwd ends with uid {final.pw_uid}"
    assert len(_passwd_lines(user_name)) == 1, _passwd_lines(user_name)


def test_an_existing_user_is_found_again(user: pwd.struct_passwd) -> None:
    assert _ensure_system_user(user.pw_name) == user
    assert len(_passwd_lines(user.pw_name)) == 1


def _unused_uid() -> int:
    taken = {entry.pw_uid for entry in pwd.getpwall()}
    return next(uid for uid in range(60_000, 65_000) if uid not in taken)


def _chown_tree(path: Path, uid: int, gid: int) -> None:
    subprocess.run(["chown", "-R", f"{uid}:{gid}", str(path)], check=True, timeout=60)


def _owners(path: Path) -> set[int]:
    owners = {path.lstat().st_uid}
    for root, dirs, files in os.walk(path):
        owners |= {os.lstat(os.path.join(root, entry)).st_uid for entry in (*dirs, *files)}
    return owners


def _stale_cluster_home(data_dir: Path, uid: int) -> Path:
    """The cluster home a run made for a uid that no longer is the server user's: linked from
    `data_dir`, its `pgdata` half-made by an initdb run as that uid."""
    home = cluster_home(data_dir)
    (home / "pgdata" / "base").mkdir(parents=True)
    (home / "pgdata" / "PG_VERSION").write_text("16\n")
    (home / ORIGIN_FILE).write_text(str(data_dir.absolute()) + "\n")
    data_dir.mkdir(parents=True)
    (data_dir / "pgdata").symlink_to(home / "pgdata", target_is_directory=True)
    _chown_tree(home, uid, uid)
    home.chmod(0o700)
    return home


def test_a_cluster_home_of_a_vanished_uid_is_handed_to_the_user(
    user: pwd.struct_passwd, own_system_root: Path, tmp_path: Path
) -> None:
    data_dir = tmp_path / "postgres0"
    home = _stale_cluster_home(data_dir, _unused_uid())
    assert prepare_cluster_home(data_dir, user) == home
    assert _owners(home) == {user.pw_uid}
    assert (data_dir / "pgdata").resolve() == home / "pgdata"


def test_a_cluster_home_that_belongs_to_another_data_directory_is_refused(
    user: pwd.struct_passwd, own_system_root: Path, tmp_path: Path
) -> None:
    data_dir = tmp_path / "postgres0"
    stranger = _unused_uid()
    home = _stale_cluster_home(data_dir, stranger)
    # another data directory's cluster (it links there, so no sweep takes it away)
    other = tmp_path / "somewhere-else"
    other.mkdir()
    (other / "pgdata").symlink_to(home / "pgdata", target_is_directory=True)
    (home / ORIGIN_FILE).write_text(f"{other}\n")
    server = EmbeddedPostgres(data_dir, 5432)
    server._user = user
    with pytest.raises(EmbeddedServerError) as refused:
        server._prepare_for_system_user(user)
    message = str(refused.value)
    assert str(home) in message and str(stranger) in message and str(user.pw_uid) in message
    assert _owners(home) == {stranger}  # left as it was


def test_a_pgdata_made_in_place_for_a_vanished_uid_is_handed_to_the_user(
    user: pwd.struct_passwd, own_system_root: Path, tmp_path: Path
) -> None:
    data_dir = tmp_path / "postgres0"
    (data_dir / "pgdata" / "base").mkdir(parents=True)
    (data_dir / "pgdata" / "PG_VERSION").write_text("16\n")
    _chown_tree(data_dir / "pgdata", _unused_uid(), _unused_uid())
    server = EmbeddedPostgres(data_dir, 5432)
    server._user = user
    server._prepare_for_system_user(user)
    assert _owners(data_dir / "pgdata") == {user.pw_uid}
    assert data_dir.stat().st_uid == user.pw_uid


def test_initdb_is_not_handed_a_directory_of_another_uid(
    user: pwd.struct_passwd, own_system_root: Path, tmp_path: Path
) -> None:
    data_dir = tmp_path / "postgres0"
    data_dir.mkdir()
    home = own_system_root / "clusters" / "elsewhere"
    home.mkdir(parents=True)
    stranger = _unused_uid()
    os.chown(home, stranger, stranger)
    (data_dir / "pgdata").symlink_to(home / "pgdata", target_is_directory=True)
    server = EmbeddedPostgres(data_dir, 5432)
    server._user = user
    server._server_dir = home
    with pytest.raises(EmbeddedServerError) as refused:
        server._initdb()
    message = str(refused.value)
    assert str(home) in message and str(stranger) in message and str(user.pw_uid) in message
    assert not (home / "pgdata").exists()


def test_the_server_user_is_resolved_once_per_server(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[str] = []

    def ensure(name: str) -> pwd.struct_passwd:
        calls.append(name)
        return pwd.getpwnam("nobody") if len(calls) == 1 else pwd.getpwnam("root")

    monkeypatch.setattr("tools.embedded._ensure_system_user", ensure)
    server = EmbeddedPostgres(tmp_path / "postgres0", 5432)
    first = server._popen_options()
    again = server._popen_options()
    assert first["user"] == again["user"] == pwd.getpwnam("nobody").pw_uid
    assert len(calls) == 1
