"""A throwaway PostgreSQL cluster for tests and benchmarks: initdb + pg_ctl in a temp directory.

`initdb` refuses to run as root, and CI runs as root, so when we are root every PostgreSQL
command runs as an unprivileged OS user (`postgres` where Debian's packages made it, else
TASKLOOM_PG_OS_USER) and the cluster's directory is handed to that user. The server listens on
127.0.0.1 at a free port and on a unix socket inside the directory, so nothing is shared with
another run or another colleague's cluster on the same machine.

A run that dies without cleaning up (kill -9, a crashed pytest) leaves its directory behind
with the pid of the process that made it; the next `cluster()` stops and removes every such
directory whose maker is gone, and never touches one whose maker is still alive.

    with cluster() as pg:
        pg.dsn()  # postgresql://taskloom@127.0.0.1:PORT/postgres

    .venv/bin/python -m tests.pg.cluster   # start one, print the timings, stop it
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

PREFIX = "taskloom-pg-"
OWNER_FILE = "maker.pid"  # the pid of the process that made the cluster; gone = leftover
DB_USER = "taskloom"  # the superuser initdb creates; trust auth, local connections only
START_TIMEOUT = 60  # seconds pg_ctl waits for the server to accept connections
PORT_TRIES = 5  # a free port can be taken between our probe and the server's bind
# Throwaway data: no fsync, no full-page writes. A benchmark that needs durable commits passes
# its own settings (fsync=on, synchronous_commit=on).
FAST = {"fsync": "off", "full_page_writes": "off", "synchronous_commit": "off"}


class PostgresMissing(RuntimeError):
    """No PostgreSQL binaries or no user to run them as: tests skip, or fail when required."""


def pg_bin_dir() -> Path:
    """The directory with initdb and pg_ctl: TASKLOOM_PG_BIN, PATH, then Debian's newest."""
    candidates = [os.environ.get("TASKLOOM_PG_BIN", "")]
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(str(Path(on_path).resolve().parent))
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    for c in candidates:
        if c and (Path(c) / "initdb").is_file() and (Path(c) / "pg_ctl").is_file():
            return Path(c)
    raise PostgresMissing(
        "PostgreSQL's initdb and pg_ctl were not found: install Debian's postgresql "
        "(apt-get install postgresql) or set TASKLOOM_PG_BIN to their directory."
    )


def _version_key(path: str) -> int:
    part = Path(path).parent.name
    return int(part) if part.isdigit() else 0


def os_user() -> pwd.struct_passwd | None:
    """Who runs PostgreSQL: None means ourselves (we are not root)."""
    if os.geteuid() != 0:
        return None
    name = os.environ.get("TASKLOOM_PG_OS_USER", "postgres")
    try:
        return pwd.getpwnam(name)
    except KeyError:
        raise PostgresMissing(
            f"Running as root, and there is no OS user {name!r} to run PostgreSQL as (initdb refuses "
            "root): create one (useradd --system postgres) or set TASKLOOM_PG_OS_USER."
        ) from None


@dataclass
class Cluster:
    root: Path
    port: int
    bin_dir: Path
    user: pwd.struct_passwd | None
    timings: dict[str, float] = field(default_factory=dict)  # seconds: initdb, start, stop
    options: dict[str, str] = field(default_factory=dict)  # the server's settings, for a restart

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "sock"

    def dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://{DB_USER}@127.0.0.1:{self.port}/{dbname}"

    def pg(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run one of PostgreSQL's programs (initdb, pg_ctl, psql...) as the cluster's OS user."""
        return _run([str(self.bin_dir / tool), *args], self.user, check=check)

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        """One statement through psql over the unix socket; its unaligned output."""
        out = self.pg("psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", str(self.socket_dir),
                      "-p", str(self.port), "-U", DB_USER, "-d", dbname, "-c", sql)
        return out.stdout.strip()

    def create_database(self, name: str) -> str:
        """A fresh database in this cluster (one per test keeps tests apart); its DSN."""
        self.psql(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def postmaster_pid(self) -> int | None:
        return _postmaster_pid(self.data)

    def stop_server(self) -> None:
        """Shut the server down (fast: clients are disconnected) and keep its data, for a test of
        what clients do while PostgreSQL is away. `start_server` brings it back on the same port."""
        self.pg("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "30", "stop")

    def start_server(self) -> None:
        done = _pg_ctl_start(self, self.options)
        if done.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed: {done.stderr.strip()}")


def _run(argv: list[str], user: pwd.struct_passwd | None, *, check: bool = True) -> subprocess.CompletedProcess[str]:
    # As root: drop to the user with its own groups only (extra_groups=[] sheds root's), and a
    # HOME it owns, so nothing PostgreSQL starts can write as root.
    kwargs: dict = {}
    env = dict(os.environ)
    if user is not None:
        kwargs = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        env.update(HOME=user.pw_dir, USER=user.pw_name, LOGNAME=user.pw_name)
    env.pop("PGDATA", None)
    done = subprocess.run(argv, check=False, capture_output=True, text=True, env=env, cwd="/", **kwargs)
    if check and done.returncode != 0:
        raise RuntimeError(f"{Path(argv[0]).name} exited {done.returncode}: {done.stderr.strip() or done.stdout}")
    return done


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead: its parent simply has not reaped it yet.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _postmaster_pid(data: Path) -> int | None:
    try:
        return int((data / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None


def reap_leftovers(tmp: Path | None = None) -> list[Path]:
    """Stop and remove clusters whose making process is gone; returns what was removed."""
    removed = []
    for root in Path(tmp or tempfile.gettempdir()).glob(PREFIX + "*"):
        try:
            maker = int((root / OWNER_FILE).read_text())
        except (OSError, ValueError):
            maker = None  # half-made: the maker died before writing it, or it is being written now
            if time.time() - root.stat().st_mtime < 60:
                continue
        if maker is not None and _alive(maker):
            continue
        _stop_hard(root / "data")
        shutil.rmtree(root, ignore_errors=True)
        removed.append(root)
    return removed


def _stop_hard(data: Path) -> None:
    """Leftovers get no grace: SIGQUIT is PostgreSQL's immediate shutdown, SIGKILL if it lingers."""
    pid = _postmaster_pid(data)
    if pid is None or not _alive(pid):
        return
    for sig, patience in ((3, 5.0), (9, 5.0)):  # SIGQUIT, SIGKILL
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + patience
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not _alive(pid):
            return


def start(settings: Mapping[str, str] | None = None) -> Cluster:
    """initdb and start a cluster; the caller must `stop` it (or use `cluster()`)."""
    bin_dir, user = pg_bin_dir(), os_user()
    reap_leftovers()
    root = Path(tempfile.mkdtemp(prefix=PREFIX))
    (root / OWNER_FILE).write_text(str(os.getpid()))
    c = Cluster(root=root, port=0, bin_dir=bin_dir, user=user)
    try:
        c.socket_dir.mkdir()
        if user is not None:
            for p in (root, c.socket_dir):
                os.chown(p, user.pw_uid, user.pw_gid)
        t0 = time.perf_counter()
        c.pg("initdb", "-D", str(c.data), "-U", DB_USER, "--auth=trust", "-E", "UTF8", "--no-locale",
             "--no-sync", "--no-instructions")
        c.timings["initdb"] = time.perf_counter() - t0
        options = {**FAST, **(settings or {}), "listen_addresses": "127.0.0.1",
                   "unix_socket_directories": str(c.socket_dir)}
        t0 = time.perf_counter()
        _start_on_free_port(c, options)
        c.timings["start"] = time.perf_counter() - t0
    except BaseException:
        stop(c)
        raise
    return c


def _start_on_free_port(c: Cluster, options: Mapping[str, str]) -> None:
    c.options = dict(options)
    for attempt in range(PORT_TRIES):
        c.port = _free_port()
        done = _pg_ctl_start(c, options)
        if done.returncode == 0:
            return
        log = (c.root / "server.log").read_text(errors="replace") if (c.root / "server.log").exists() else ""
        if "could not bind" not in log or attempt == PORT_TRIES - 1:
            raise RuntimeError(f"pg_ctl start failed: {done.stderr.strip()}\n{log[-2000:]}")


def _pg_ctl_start(c: Cluster, options: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    opts = " ".join(f"-c {k}={v}" for k, v in options.items())
    return c.pg("pg_ctl", "-D", str(c.data), "-l", str(c.root / "server.log"), "-w", "-t", str(START_TIMEOUT),
                "-o", f"-p {c.port} {opts}", "start", check=False)


def stop(c: Cluster) -> None:
    t0 = time.perf_counter()
    if c.postmaster_pid() is not None:
        # Immediate: the data is deleted next, so a shutdown checkpoint and waiting for every
        # backend to leave buy nothing. The full suite's fast stop once ran into its 30 s timeout.
        done = c.pg("pg_ctl", "-D", str(c.data), "-m", "immediate", "-w", "-t", "30", "stop", check=False)
        if done.returncode != 0:
            _stop_hard(c.data)
    c.timings["stop"] = time.perf_counter() - t0
    shutil.rmtree(c.root, ignore_errors=True)


@contextmanager
def cluster(settings: Mapping[str, str] | None = None) -> Iterator[Cluster]:
    c = start(settings)
    try:
        yield c
    finally:
        stop(c)


if __name__ == "__main__":
    t0 = time.perf_counter()
    with cluster() as pg:
        ready = time.perf_counter() - t0
        print(pg.psql("SELECT version()"))
        print(f"ready in {ready:.2f} s (initdb {pg.timings['initdb']:.2f} s, start {pg.timings['start']:.2f} s)")
    print(f"stopped and removed in {pg.timings['stop']:.2f} s")
