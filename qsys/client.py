"""The library API the commands are built on: submit, status, delete, hold, wait, ...

Synchronous and lean (no asyncio, no SQLAlchemy): a command connects, sends one or a few
requests and exits. On the master's host it uses the Unix socket, where the kernel vouches
for the caller; elsewhere (or with ``QSYS_MASTER=host:port``) TCP with a credential signed
by the cluster key over the master's challenge. A cell with several master hosts
(``master_candidates``) is reached through :func:`connect_master`, which finds the active one.
"""

from __future__ import annotations

import _socket  # the C module: ``socket`` and its enums cost a command ~6 ms
import os

from qsys import protocol
from qsys.errors import ConnectionFailed, QsysError, error_from_wire
from qsys.jobspec import JobSpec
from qsys.paths import Cell, master_candidates, master_socket_path, read_active_master

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs a command milliseconds at run time
    from typing import Any, TypeVar

    from qsys.records import ClusterQueueRow, HostRow, JobRow, Submitted, TaskEnd

    R = TypeVar("R")
    Address = str | tuple[str, int]  # a Unix socket path or (host, port)

CONNECT_TIMEOUT = 1.5  # seconds for one of several master hosts to accept
GREETING_TIMEOUT = 3.0  # and then to greet


def connect_master(addresses: list[Address], timeout: float | None,
                   several: bool = False) -> tuple[_socket.socket, protocol.Challenge]:
    """The connection to the active master and its Challenge: the first of ``addresses``
    that greets with a Challenge. A master host that is not active (a shadow) answers
    NotActive naming the active master, which is tried next. With ``several`` candidates
    one that is slow to accept or greet is given up for the next; the conversation then has
    ``timeout``. With none answering, ConnectionFailed says why the first could not be
    reached."""
    pending = list(addresses)
    tried: list[Address] = []
    errors: list[str] = []
    while pending:
        address = pending.pop(0)
        if address in tried:
            continue
        tried.append(address)
        try:
            sock = _open(address, CONNECT_TIMEOUT if several else timeout)
            if several:
                sock.settimeout(GREETING_TIMEOUT)
        except OSError as exc:
            errors.append(_unreachable(address, exc))
            continue
        try:
            first = protocol.recv_sync(sock)
        except (OSError, QsysError) as exc:
            sock.close()
            errors.append(_unreachable(address, exc))
            continue
        if isinstance(first, protocol.NotActive):
            sock.close()
            errors.append(_unreachable(address, f"not the active qmaster (the active one: {first.active or 'unknown'})"))
            host, _, port = first.active.rpartition(":")
            if host and port.isdigit():
                pending.insert(0, (host, int(port)))
            continue
        if not isinstance(first, protocol.Challenge):
            sock.close()
            raise ConnectionFailed("the master did not greet as expected")
        sock.settimeout(timeout)
        return sock, first
    raise ConnectionFailed(errors[0] if errors else "error: no qmaster address")


def _open(address: Address, timeout: float | None) -> _socket.socket:
    if isinstance(address, str):
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(address)
        except OSError:
            sock.close()
            raise
        return sock
    import socket

    connected: _socket.socket = socket.create_connection(address, timeout=timeout)
    return connected


def _unreachable(address: Address, why: object) -> str:
    if isinstance(address, str):
        return f"error: unable to contact qmaster using socket {address}: {why}"
    return f'error: unable to contact qmaster using port {address[1]} on host "{address[0]}": {why}'


class Client:
    """One connection to the master of a cell."""

    def __init__(self, cell: Cell | None = None, timeout: float | None = 60.0,
                 act_as: int | None = None) -> None:
        self._cell = cell
        self.timeout = timeout
        # a key holder acting for another uid (qsys-restd): TCP, credential signed for act_as
        self.act_as = act_as
        self._sock: _socket.socket | None = None
        self.user = ""

    @property
    def cell(self) -> Cell:
        if self._cell is None:
            self._cell = Cell.current()
        return self._cell

    # ------------------------------------------------------------ connection

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _connect(self) -> _socket.socket:
        """The connection to the master, made once: its Unix socket when it is on this
        machine, else TCP to the bootstrap's master address(es)."""
        if self._sock is not None:
            return self._sock
        forced = os.environ.get("QSYS_MASTER")
        sock_path = str(self._cell.master_socket) if self._cell else master_socket_path()
        if not forced and self.act_as is None and os.path.exists(sock_path):
            try:
                sock, challenge = connect_master([sock_path], self.timeout)
            except ConnectionFailed:
                # a master host of a failover cell whose master is gone: another may be active
                if not self.cell.bootstrap().get("master_candidates"):
                    raise
                sock, challenge = self._connect_tcp(None)
        else:
            sock, challenge = self._connect_tcp(forced)
        self._handshake(sock, challenge, unix=sock.family == _socket.AF_UNIX)
        self._sock = sock
        return sock

    def _connect_tcp(self, forced: str | None) -> tuple[_socket.socket, protocol.Challenge]:
        candidates = self._master_addresses(forced)
        return connect_master(candidates, self.timeout, several=len(candidates) > 1)

    def _master_addresses(self, forced: str | None) -> list[Address]:
        if forced:
            host, _, port = forced.rpartition(":")
            return [(host or "127.0.0.1", int(port))]
        boot = self.cell.bootstrap()
        if not boot:
            raise ConnectionFailed(
                f"error: no qsys cluster in {self.cell.dir} (set QSYS_ROOT, or start one with 'qsys up')"
            )
        active = read_active_master(self.cell) if boot.get("master_candidates") else ""
        return list(master_candidates(boot, active))

    def _handshake(self, sock: _socket.socket, challenge: protocol.Challenge, *, unix: bool) -> None:
        credential = None
        if not unix:
            from qsys import auth

            key = auth.load_key(self.cell.key_file)
            host = os.environ.get("QSYS_HOST") or os.uname().nodename.split(".")[0]
            uid = os.getuid() if self.act_as is None else self.act_as
            credential = auth.sign_credential(key, challenge.nonce, uid, host)
        protocol.send_sync(sock, protocol.Hello(credential=credential, client=""))
        self.user = self._reply(sock, protocol.Welcome).user

    @staticmethod
    def _reply(sock: _socket.socket, expect: type[R] | None) -> R:
        reply = protocol.recv_sync(sock)
        if isinstance(reply, protocol.Fail):
            raise error_from_wire(reply.kind, reply.message)
        if expect is not None and not isinstance(reply, expect):
            raise QsysError(f"unexpected reply {type(reply).__name__} (wanted {expect.__name__})")
        return reply

    def request(self, msg: Any, expect: type[R] | None = None) -> R:
        """Send one request; its reply (a message of type ``expect``), or raise its Fail."""
        sock = self._connect()
        try:
            protocol.send_sync(sock, msg)
            return self._reply(sock, expect)
        except OSError as exc:
            self.close()
            raise ConnectionFailed(f"error: lost the connection to qmaster: {exc}") from None

    # ------------------------------------------------------------ the API

    def submit(self, spec: JobSpec) -> Submitted:
        """Submit one job."""
        return self.request(protocol.Submit(spec), protocol.Submitted)

    def submit_many(self, specs: list[JobSpec]) -> list[Submitted]:
        """Submit many jobs in one durable commit."""
        return self.request(protocol.SubmitMany(list(specs)), protocol.SubmittedMany).jobs

    def jobs(self, users: list[str] | None = None, *, brief: bool = False, states: str = "",
             urgency: bool = False) -> list[JobRow]:
        return self.request(protocol.JobsStatus(users, brief, states, urgency), protocol.JobRows).rows

    def queues(self, users: list[str] | None = None, *, brief: bool = False, states: str = "",
               urgency: bool = False) -> protocol.QueueRows:
        return self.request(protocol.QueuesStatus(users, brief, states, urgency), protocol.QueueRows)

    def hosts(self) -> list[HostRow]:
        return self.request(protocol.HostsStatus(), protocol.HostRows).hosts

    def job_details(self, job_ids: list[str]) -> protocol.JobDetailRows:
        return self.request(protocol.JobDetails(list(job_ids)), protocol.JobDetailRows)

    def job_action(self, action: str, targets: list[str], users: list[str] | None = None,
                   force: bool = False, hold_type: str = "u") -> protocol.Lines:
        msg = protocol.JobAction(action, list(targets), list(users or []), force, hold_type)
        return self.request(msg, protocol.Lines)

    def wait(self, job_ids: list[int]) -> list[TaskEnd]:
        """Block until the jobs have ended; how each task ended."""
        old = self.timeout
        sock = self._connect()
        sock.settimeout(None)
        try:
            return self.request(protocol.WaitJobs(list(job_ids)), protocol.TaskEnds).ends
        finally:
            sock.settimeout(old)

    def shutdown(self, execds: bool = False) -> str:
        return self.request(protocol.Shutdown(execds), protocol.Ok).message

    # ------------------------------------------------------------ qmod, qalter, qselect

    def queue_action(self, action: str, targets: list[str], jobs: bool | None = None,
                     force: bool = False) -> protocol.Lines:
        """qmod."""
        return self.request(protocol.QueueAction(action, list(targets), jobs, force), protocol.Lines)

    def alter(self, targets: list[str], changes: dict[str, Any], users: list[str] | None = None,
              verify: str = "") -> protocol.Lines:
        """qalter."""
        return self.request(protocol.AlterJob(list(targets), changes, list(users or []), verify), protocol.Lines)

    def select_queues(self, **filters: Any) -> list[str]:
        """qselect: names of the queue instances that pass the filters (``SelectQueues``)."""
        return self.request(protocol.SelectQueues(**filters), protocol.Names).names

    def cluster_queues(self) -> list[ClusterQueueRow]:
        """qstat -g c: one summary per cluster queue."""
        return self.request(protocol.ClusterQueuesStatus(), protocol.ClusterQueueRows).rows

    # ------------------------------------------------------------ configuration objects (qconf)

    def conf(self, op: str, kind: str, name: str = "", text: str = "", **attrs: Any) -> Any:
        """One operation of the generic object path (see ``protocol.ConfRequest``): ConfText
        for show and template, Names for list, Lines for the changes."""
        expect: Any = {"show": protocol.ConfText, "template": protocol.ConfText, "list": protocol.Names}.get(
            op, protocol.Lines)
        edit = protocol.AttrEdit(**attrs) if attrs else None
        return self.request(protocol.ConfRequest(op, kind, name, text, edit), expect)

    def conf_show(self, kind: str, name: str = "") -> protocol.ConfText:
        """The Grid Engine text and the attributes of one object."""
        return self.request(protocol.ConfRequest("show", kind, name), protocol.ConfText)

    def conf_list(self, kind: str) -> list[str]:
        return self.request(protocol.ConfRequest("list", kind), protocol.Names).names
