"""qsys-restd for tests: the real daemon beside a tests.clusterlib.Cluster, and plain HTTP
clients for it (TCP with a token, or the Unix socket as some local user)."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from tests.clusterlib import Cluster, wait_until


class Reply:
    def __init__(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.status = status
        self.body = body
        self.headers = headers

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"Reply({self.status}, {self.body[:300]!r})"


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=30)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


_AS_USER = textwrap.dedent("""
    import http.client, json, socket, sys
    path, method, url, body = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
    conn = http.client.HTTPConnection("localhost", timeout=30)
    conn.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.sock.connect(path)
    conn.request(method, url, body=body or None, headers={"Content-Type": "application/json"})
    reply = conn.getresponse()
    print(reply.status)
    sys.stdout.write(reply.read().decode())
""")


class Restd:
    """qsys-restd of ``cluster``'s cell, started in the foreground with these settings."""

    def __init__(self, cluster: Cluster, **settings: str) -> None:
        self.cluster = cluster
        self.settings = {"restd_port": "0", "restd_bind": "127.0.0.1", "restd_monitoring": "token", **settings}
        self.proc: subprocess.Popen[bytes] | None = None
        self.address = ""

    @property
    def spool(self) -> Path:
        return self.cluster.cell.restd_spool

    @property
    def socket_path(self) -> str:
        return str(self.spool / "restd.sock")

    def start(self) -> Restd:
        cell = self.cluster.cell
        cell.write_bootstrap({**cell.bootstrap(), **self.settings})
        argv = self.cluster._as_user([sys.executable, "-m", "qsys.restd", "--foreground"], self.cluster.user)
        log = open(self.cluster.root / "restd.out", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(argv, env=self.cluster.env, stdout=log, stderr=log, cwd="/")
        wait_until(self._answers, 30, "qsys-restd to answer")
        self.address = (self.spool / "address").read_text().splitlines()[0]
        return self

    def _answers(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"qsys-restd exited {self.proc.returncode}: "
                                 f"{(self.cluster.root / 'restd.out').read_text()[-2000:]}")
        try:
            return self.unix("GET", "/api/v1/whoami").status == 200
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
            self.proc = None

    def __enter__(self) -> Restd:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ requests

    def token(self, user: str | None = None, ttl: int = 3600) -> str:
        """A token from ``qsys token user`` (as root: signed with the key for ``user``)."""
        argv = [sys.executable, "-m", "qsys.cluster", "token", "user", "--ttl", str(ttl)]
        if user:
            argv += ["--user", user]
        proc = subprocess.run(argv, env=self.cluster.env, capture_output=True, text=True, timeout=30)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()

    def tcp(self, method: str, path: str, token: str | None = None, body: Any = None,
            headers: dict[str, str] | None = None, raw: bytes | None = None) -> Reply:
        host, _, port = self.address.removeprefix("http://").rpartition(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        return _request(conn, method, path, token, body, headers, raw)

    def unix(self, method: str, path: str, body: Any = None) -> Reply:
        """As the test process (root) over the Unix socket."""
        return _request(_UnixConnection(self.socket_path), method, path, None, body, None, None)

    def unix_as(self, user: str, method: str, path: str, body: Any = None) -> Reply:
        """As ``user`` over the Unix socket: a process of that user connects."""
        argv = self.cluster._as_user([sys.executable, "-c", _AS_USER, self.socket_path, method, path,
                                      json.dumps(body) if body is not None else ""], user)
        proc = subprocess.run(argv, env=self.cluster.env, capture_output=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        status, _, rest = proc.stdout.partition(b"\n")
        return Reply(int(status), rest, {})


def _request(conn: http.client.HTTPConnection, method: str, path: str, token: str | None, body: Any,
             headers: dict[str, str] | None, raw: bytes | None) -> Reply:
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    payload = raw
    if body is not None:
        payload = json.dumps(body).encode()
        sent["Content-Type"] = "application/json"
    try:
        conn.request(method, path, body=payload, headers=sent)
        response = conn.getresponse()
        return Reply(response.status, response.read(), {k.lower(): v for k, v in response.getheaders()})
    finally:
        conn.close()
