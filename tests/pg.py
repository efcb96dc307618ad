"""A throwaway PostgreSQL server for tests: initdb in a temp dir, pg_ctl start, stop at the end.

No init system and no cluster services: the server is a child of the test run, listens on
127.0.0.1 (a free port; also on other addresses when asked, e.g. a network namespace
bridge, see ``listen``) and on a Unix socket in its own temp dir, and disappears with it.
As root it runs as the ``postgres`` system user, since initdb refuses to run as root.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

SERVER_USER = "postgres"


class PostgresUnavailable(RuntimeError):
    """PostgreSQL is not installed and cannot be installed here."""


def find_bindir(install: bool = True) -> Path:
    """The newest /usr/lib/postgresql/*/bin with initdb; apt-get installs it if missing (root)."""
    def newest() -> Path | None:
        dirs = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")]
        dirs.sort(key=lambda d: int(d.parent.name) if d.parent.name.isdigit() else 0)
        return dirs[-1] if dirs else None

    found = newest()
    if found is None and install and os.geteuid() == 0 and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-q"], check=False, env=env, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "postgresql"], check=False, env=env,
                       capture_output=True)
        found = newest()
    if found is None:
        raise PostgresUnavailable("PostgreSQL is not installed (apt-get install postgresql)")
    return found


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class PostgresServer:
    """One running server; ``new_database()`` hands out fresh, empty databases."""

    def __init__(self, listen: Sequence[str] = ()) -> None:
        """``listen``: addresses (besides 127.0.0.1) to accept clients on, each trusted with
        its /24 (the test's network namespaces on a bridge)."""
        self.listen = list(listen)
        self.bindir = find_bindir()
        self.as_root = os.geteuid() == 0
        self.user = SERVER_USER if self.as_root else pwd.getpwuid(os.geteuid()).pw_name
        self.root = Path(tempfile.mkdtemp(prefix="qsys-pg-", dir="/tmp"))
        self.data = self.root / "data"
        self.port = _free_port()
        self._names = itertools.count(1)
        self.started = False
        addresses = ",".join(["127.0.0.1", *self.listen])
        self._options = (f"-c listen_addresses={addresses} -p {self.port} -k {self.root} "
                         "-c max_connections=100 -c shared_buffers=32MB")

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = list(args)
        if self.as_root:
            cmd = ["runuser", "-u", SERVER_USER, "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, cwd="/")
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr or done.stdout}")
        return done

    def start(self) -> None:
        if self.as_root:
            pw = pwd.getpwnam(SERVER_USER)
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        os.chmod(self.root, 0o700)
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", self.user,
                  "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync")
        if self.listen:
            nets = {".".join(a.split(".")[:3]) + ".0/24" for a in self.listen}
            with open(self.data / "pg_hba.conf", "a") as hba:
                hba.writelines(f"host all all {net} trust\n" for net in sorted(nets))
        self._run(str(self.bindir / "pg_ctl"), "start", "-w", "-t", "60", "-D", str(self.data),
                  "-l", str(self.root / "server.log"), "-o", self._options)
        self.started = True

    def stop(self) -> None:
        if self.started:
            with contextlib.suppress(RuntimeError):
                self._run(str(self.bindir / "pg_ctl"), "stop", "-w", "-m", "fast", "-D", str(self.data))
            self.started = False
        shutil.rmtree(self.root, ignore_errors=True)

    def halt(self) -> None:
        """Stop the server, keeping its data (a store outage); :meth:`resume` starts it again."""
        self._run(str(self.bindir / "pg_ctl"), "stop", "-w", "-t", "60", "-m", "fast", "-D", str(self.data))

    def resume(self) -> None:
        self._run(str(self.bindir / "pg_ctl"), "start", "-w", "-t", "60", "-D", str(self.data),
                  "-l", str(self.root / "server.log"), "-o", self._options)

    def url(self, database: str = "postgres", host: str = "127.0.0.1") -> str:
        return f"postgresql://{self.user}@{host}:{self.port}/{database}"

    def new_database(self) -> str:
        """Create an empty database and return its URL (one per test keeps tests apart)."""
        import psycopg

        name = f"qsys_test_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user={self.user} dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return self.url(name)


@contextlib.contextmanager
def postgres_server(listen: Sequence[str] = ()) -> Iterator[PostgresServer]:
    """A started server for the duration of the block."""
    server = PostgresServer(listen)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One server per test session; skips only if PostgreSQL cannot be installed."""
    try:
        bindir_ok = find_bindir()
    except PostgresUnavailable as exc:
        pytest.skip(str(exc))
    del bindir_ok
    with postgres_server() as server:
        yield server


@pytest.fixture
def postgres_url(postgres: PostgresServer) -> str:
    """The URL of a fresh, empty database on the session's server."""
    return postgres.new_database()
