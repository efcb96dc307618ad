"""The library API the commands are built on: submit, status, delete, hold, wait, ...

Synchronous and lean (no asyncio, no SQLAlchemy): a command connects, sends one or a few
requests and exits. On the master's host it uses the Unix socket, where the kernel vouches
for the caller (and ``ssl`` is never imported); elsewhere (or with ``QSYS_MASTER=host:port``)
TCP, in TLS when the cell has it (``qsys.tls``), with a credential signed over the master's
challenge (``qsys.signer``: the cluster key, this host's secret, or the host's signer). A cell with several master hosts
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
    from collections.abc import Callable, Iterator
    from typing import Any, TypeVar

    from qsys.arspec import ArSpec
    from qsys.records import ClusterQueueRow, HostRow, JobRow, MasterMetrics, Submitted, TaskEnd

    R = TypeVar("R")
    Address = str | tuple[str, int]  # a Unix socket path or (host, port)


RETRY_FOR = 20.0  # seconds a command keeps trying to reach a master that is not answering
_FIRST_PAUSE = 0.1
_MAX_PAUSE = 1.0


class _Unreachable(Exception):
    """One attempt to reach the master failed (``again``: a later one may not)."""

    def __init__(self, reason: str, again: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.again = again


CONNECT_TIMEOUT = 1.5  # seconds for one of several master hosts to accept
GREETING_TIMEOUT = 3.0  # and then to greet


def connect_master(addresses: list[Address], timeout: float | None, several: bool = False,
                   secure: Callable[[_socket.socket, str], _socket.socket] | None = None,
                   early: bytes = b"") -> tuple[_socket.socket, protocol.Challenge]:
    """One attempt to reach the active master: the connection and its Challenge, from the
    first of ``addresses`` that greets with one. A master host that is not active (a shadow)
    answers NotActive naming the active master, which is tried next. With ``several``
    candidates one that is slow to accept or greet is given up for the next; the connection
    then has ``timeout``. ``secure`` wraps a TCP connection (TLS) before the greeting. None
    answering is _Unreachable, with why for each. ``early`` is sent on a Unix socket as soon
    as it is open, before the greeting is read (a local client's Hello needs nothing of the
    Challenge, so it and the first request go in the same round trip); the connection's
    family tells the caller whether it went."""
    pending = list(addresses)
    tried: list[Address] = []
    failures: list[tuple[Address, _Unreachable]] = []
    while pending:
        address = pending.pop(0)
        if address in tried:
            continue
        tried.append(address)
        try:
            sock = _open(address, CONNECT_TIMEOUT if several else timeout)
            if secure is not None and not isinstance(address, str):
                sock = secure(sock, address[0])
        except OSError as exc:
            failures.append((address, _unreachable(exc)))
            continue
        try:
            if several:
                sock.settimeout(GREETING_TIMEOUT)
            if early and isinstance(address, str):
                sock.sendall(early)
            first = protocol.recv_sync(sock, protocol.MAX_HELLO)
        except OSError as exc:
            sock.close()
            failures.append((address, _unreachable(exc)))
            continue
        except protocol.ProtocolError as exc:
            sock.close()
            failures.append((address, _Unreachable(exc.message or "the master closed the connection")))
            continue
        if isinstance(first, protocol.NotActive):
            sock.close()
            failures.append((address, _Unreachable(f"not the active qmaster (that is {first.active or 'unknown'})")))
            host, _, port = first.active.rpartition(":")
            if host and port.isdigit():
                pending.insert(0, (host, int(port)))
            continue
        if not isinstance(first, protocol.Challenge):
            sock.close()
            raise ConnectionFailed("error: the master did not greet as expected")
        sock.settimeout(timeout)
        return sock, first
    if len(failures) == 1:
        raise failures[0][1]
    raise _Unreachable("; ".join(f"{_where(a)}: {f.reason}" for a, f in failures),
                       again=any(f.again for _, f in failures))


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


def _where(address: Address) -> str:
    return address if isinstance(address, str) else f"{address[0]}:{address[1]}"


class Client:
    """One connection to the master of a cell.

    Reaching the master (connect and handshake) is retried for ``retry`` seconds, so a
    command issued while the master restarts goes through. A request is sent once: when the
    connection breaks after it was sent, the master may have carried it out, so only
    requests that change nothing (:data:`_REPEATABLE`) are sent again."""

    def __init__(self, cell: Cell | None = None, timeout: float | None = 60.0,
                 act_as: int | None = None, retry: float | None = None) -> None:
        self._cell = cell
        self.timeout = timeout
        self.retry = retry if retry is not None else _retry_from_environment()
        # a key holder acting for another uid (qsys-restd): TCP, credential signed for act_as
        self.act_as = act_as
        self._sock: _socket.socket | None = None
        self._boot: dict[str, str] | None = None
        self.user = ""

    @property
    def cell(self) -> Cell:
        if self._cell is None:
            self._cell = Cell.current()
        return self._cell

    def _bootstrap(self) -> dict[str, str]:
        """The cell's bootstrap, read once per client (a TCP connection needs it for the
        candidates, TLS and the credential: three reads of one file otherwise)."""
        if self._boot is None:
            self._boot = self.cell.bootstrap()
        return self._boot

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
        """The connection to the master, made if there is none yet."""
        return self._connect_with(None)[0]

    def _connect_with(self, first: Any) -> tuple[_socket.socket, bool]:
        """The connection to the master, made if there is none yet, and whether ``first``
        (a request) went with its handshake (on a new Unix socket connection: one round trip
        for both; nothing was carried out until the master welcomed the caller, so a
        connection lost before that is tried again like any other attempt)."""
        if self._sock is not None:
            return self._sock, False
        import time

        deadline = time.monotonic() + self.retry
        pause = _FIRST_PAUSE
        while True:
            where, attempt = self._target()
            left = deadline - time.monotonic()
            try:
                self._sock, sent = attempt(self._attempt_timeout(left), first)
                return self._sock, sent
            except _Unreachable as exc:
                if not exc.again or left <= pause:
                    raise ConnectionFailed(f"error: unable to contact qmaster using {where}: {exc.reason}") from None
            time.sleep(pause)
            pause = min(pause * 2, _MAX_PAUSE)

    def _attempt_timeout(self, left: float) -> float | None:
        if self.timeout is None:
            return None if self.retry <= 0 else max(left, 1.0)
        return max(min(self.timeout, left), 1.0) if self.retry > 0 else self.timeout

    def _target(self) -> tuple[str, Any]:
        """Where the master is (for the message) and how to try it once: the Unix socket on
        the master's host, else TCP to the master candidates (asked again each attempt: a
        restarting master may be between the two)."""
        forced = os.environ.get("QSYS_MASTER")
        sock_path = str(self._cell.master_socket) if self._cell else master_socket_path()
        if not forced and self.act_as is None and os.path.exists(sock_path):
            return f"socket {sock_path}", lambda timeout, first: self._try_unix(sock_path, timeout, first)
        candidates = self._master_addresses(forced)
        if len(candidates) == 1:
            where = 'port {1} on host "{0}"'.format(*candidates[0])
        else:
            where = "master_candidates " + ",".join(_where(a) for a in candidates)
        return where, lambda timeout, first: self._try_tcp(candidates, timeout)

    def _try_unix(self, path: str, timeout: float | None, first: Any) -> tuple[_socket.socket, bool]:
        try:
            return self._try([path], timeout, first)
        except _Unreachable:
            # a master host of a failover cell whose master is gone: another may be active
            if not self._bootstrap().get("master_candidates"):
                raise
            return self._try_tcp(self._master_addresses(None), timeout)

    def _try_tcp(self, candidates: list[tuple[str, int]], timeout: float | None) -> tuple[_socket.socket, bool]:
        return self._try(list(candidates), timeout)

    def _try(self, addresses: list[Address], timeout: float | None,
             first: Any = None) -> tuple[_socket.socket, bool]:
        tcp = any(not isinstance(a, str) for a in addresses)
        # the Hello of a Unix socket client carries no credential: it and the first request
        # go before the Challenge is read (only on a Unix socket, see connect_master)
        early = b"" if tcp else protocol.encode(protocol.Hello(credential=None, client=""), lean=True)
        if early and first is not None:
            early += protocol.encode(first, lean=True)
        sock, challenge = connect_master(addresses, timeout, several=len(addresses) > 1,
                                         secure=self._tls() if tcp else None, early=early)
        unix = sock.family == _socket.AF_UNIX
        try:
            self._handshake(sock, challenge, unix=unix, said_hello=unix and bool(early))
        except BaseException:
            sock.close()
            raise
        sock.settimeout(self.timeout)
        return sock, unix and first is not None

    def _tls(self) -> Callable[[_socket.socket, str], _socket.socket] | None:
        """How a TCP connection is secured in a cell with ``tls yes`` (None: plain TCP); the
        Unix socket never imports ssl."""
        from qsys import tls

        if not tls.enabled(self._bootstrap()):
            return None
        context = tls.client_context(self.cell)
        return lambda sock, host: tls.wrap(sock, context, host)

    def _master_addresses(self, forced: str | None) -> list[tuple[str, int]]:
        if forced:
            host, _, port = forced.rpartition(":")
            return [(host or "127.0.0.1", int(port))]
        boot = self._bootstrap()
        if not boot:
            raise ConnectionFailed(
                f"error: no qsys cluster in {self.cell.dir} (set QSYS_ROOT, or start one with 'qsys up')"
            )
        active = read_active_master(self.cell) if boot.get("master_candidates") else ""
        return master_candidates(boot, active)

    def _handshake(self, sock: _socket.socket, challenge: protocol.Challenge, *, unix: bool,
                   said_hello: bool = False) -> None:
        """Hello (unless it went already), Welcome (the Challenge came with the connection); a
        connection lost on the way is _Unreachable (nothing was carried out yet: the master
        reads a request only after its Welcome), a refusal of the master is its error."""
        try:
            if not said_hello:
                credential = None if unix else self._credential(challenge.nonce)
                protocol.send_sync(sock, protocol.Hello(credential=credential, client=""))
            self.user = self._reply(sock, protocol.Welcome).user
        except OSError as exc:
            raise _unreachable(exc) from None
        except protocol.PeerClosed:
            raise _Unreachable("the master closed the connection") from None

    def _credential(self, nonce: bytes) -> dict[str, Any]:
        """What proves over TCP who calls: a credential signed with the cluster key, this
        host's secret, or by this host's signer (see ``qsys.signer``)."""
        from qsys import signer

        return signer.credential(self.cell, self._bootstrap(), nonce, self.act_as)

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
        for attempt in (1, 2):
            sock, sent = self._connect_with(msg)
            try:
                if not sent:
                    protocol.send_sync(sock, msg)
                return self._reply(sock, expect)
            except (OSError, protocol.PeerClosed) as exc:
                self.close()
                if attempt == 1 and _repeatable(msg):
                    continue
                reason = _reason(exc) if isinstance(exc, OSError) else exc.message
                may = "" if _repeatable(msg) else " (the request may or may not have been carried out)"
                raise ConnectionFailed(f"error: lost the connection to qmaster: {reason}{may}") from None
        raise AssertionError("not reached")

    # ------------------------------------------------------------ the API

    def submit(self, spec: JobSpec) -> Submitted:
        """Submit one job."""
        return self.request(protocol.Submit(spec), protocol.Submitted)

    def submit_many(self, specs: list[JobSpec]) -> list[Submitted]:
        """Submit many jobs in one durable commit."""
        return self.request(protocol.SubmitMany(list(specs)), protocol.SubmittedMany).jobs

    def jobs(self, users: list[str] | None = None, *, brief: bool = False, states: str = "",
             urgency: bool = False, queues: list[str] | None = None,
             resources: dict[str, str] | None = None) -> list[JobRow]:
        """qstat's job rows; ``queues``/``resources`` are its -q and -l selection."""
        msg = protocol.JobsStatus(users, brief, states, urgency, list(queues or []), dict(resources or {}))
        return self.request(msg, protocol.JobRows).rows

    def queues(self, users: list[str] | None = None, *, brief: bool = False, states: str = "",
               urgency: bool = False, queues: list[str] | None = None,
               resources: dict[str, str] | None = None) -> protocol.QueueRows:
        msg = protocol.QueuesStatus(users, brief, states, urgency, list(queues or []), dict(resources or {}))
        return self.request(msg, protocol.QueueRows)

    def status_text(self, query: protocol.JobsStatus, *, full: bool = False, form: str = "",
                    xml_forms: list[str] | None = None, explain: str = "") -> str | Any:
        """qstat's output made by the master (``form``: "" plain, "ext", "requested", "tasks",
        "xml"; ``full``: qstat -f); the rows (JobRows, QueueRows with ``full``) when the master
        prints times in another time zone than this process."""
        msg = protocol.StatusText(query, full, form, sorted(xml_forms or ()), explain, protocol.time_zone())
        reply: Any = self.request(msg, None)
        if isinstance(reply, protocol.StatusReply):
            return reply.text
        if not isinstance(reply, protocol.QueueRows if full else protocol.JobRows):
            raise QsysError(f"unexpected reply {type(reply).__name__} to StatusText")
        return reply

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

    def accounting_lines(self, devices: bool = False) -> Iterator[str]:
        """The lines of the master's accounting file (qacct on a host that has no copy), or of
        the file of resource map ids beside it (``devices``)."""
        offset, end = 0, False
        while not end:
            chunk = self.request(protocol.ReadAccounting(offset, devices), protocol.AccountingData)
            offset, end = chunk.next, chunk.end or not chunk.data
            yield from chunk.data.decode("utf-8", errors="replace").splitlines()

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

    def master_metrics(self) -> MasterMetrics:
        """The master's own figures: pass time, latencies, commits, counters (``MetricsStatus``)."""
        return self.request(protocol.MetricsStatus(), protocol.MasterMetrics)

    # ------------------------------------------------------------ advance reservations, quotas

    def ar_submit(self, spec: ArSpec) -> protocol.Lines:
        """qrsub."""
        return self.request(protocol.ArSubmit(spec), protocol.Lines)

    def ar_status(self, ids: list[int], users: list[str]) -> protocol.ArRows:
        """qrstat: the reservations by id, else those of ``users`` (none: the caller's)."""
        return self.request(protocol.ArStatus(list(ids), list(users)), protocol.ArRows)

    def ar_delete(self, targets: list[str], users: list[str], force: bool = False) -> protocol.Lines:
        """qrdel."""
        return self.request(protocol.ArDelete(list(targets), list(users), force), protocol.Lines)

    def quota_status(self, **filters: list[str]) -> protocol.QuotaRows:
        """qquota: the resource quota rules that concern the filters (users, projects, pes,
        queues, hosts)."""
        return self.request(protocol.QuotaStatus(**filters), protocol.QuotaRows)

    # ------------------------------------------------------------ configuration objects (qconf)

    def conf(self, op: str, kind: str, name: str = "", text: str = "", **attrs: Any) -> Any:
        """One operation of the generic object path (see ``protocol.ConfRequest``): ConfText
        for show and template, Names for list, Lines for the changes."""
        expect: Any = {"show": protocol.ConfText, "template": protocol.ConfText, "list": protocol.Names}.get(
            op, protocol.Lines)
        edit = protocol.AttrEdit(**attrs) if attrs else None
        return self.request(protocol.ConfRequest(op, kind, name, text, edit), expect)

    def tree_view(self, kind: str, mode: str, paths: str = "") -> protocol.ConfText | protocol.Lines:
        """``-sst``/``-sstnode``: the view, or Lines saying there is no tree (Grid Engine's
        qconf prints that on stderr and exits 0, so it is no Fail)."""
        reply: object = self.request(protocol.ConfRequest("show", kind, paths, "", protocol.AttrEdit(mode=mode)))
        if not isinstance(reply, protocol.ConfText | protocol.Lines):
            raise QsysError(f"unexpected reply {type(reply).__name__} (wanted ConfText or Lines)")
        return reply

    def conf_show(self, kind: str, name: str = "") -> protocol.ConfText:
        """The Grid Engine text and the attributes of one object."""
        return self.request(protocol.ConfRequest("show", kind, name), protocol.ConfText)

    def conf_list(self, kind: str) -> list[str]:
        return self.request(protocol.ConfRequest("list", kind), protocol.Names).names


def _retry_from_environment() -> float:
    """``QSYS_CONNECT_RETRY``: seconds to keep trying a master that does not answer."""
    try:
        return max(0.0, float(os.environ.get("QSYS_CONNECT_RETRY", RETRY_FOR)))
    except ValueError:
        return RETRY_FOR


def _unreachable(exc: OSError) -> _Unreachable:
    """What an OSError of one attempt means: worth another try (the master is away or busy
    restarting), or not (no permission to its socket, ...)."""
    import errno

    again = isinstance(exc, (ConnectionError, FileNotFoundError, TimeoutError)) or exc.errno in (
        errno.EAGAIN, errno.EHOSTUNREACH, errno.ENETUNREACH)
    return _Unreachable(_reason(exc), again)


def _reason(exc: OSError) -> str:
    """An OSError as the short phrase a user reads ("connection refused")."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    text = exc.strerror or str(exc) or type(exc).__name__
    return text[:1].lower() + text[1:]


def _repeatable(msg: Any) -> bool:
    """Requests that change nothing: sent again on a new connection when one broke."""
    if isinstance(msg, protocol.ConfRequest):
        return msg.op in ("show", "list", "template")
    return isinstance(msg, (protocol.JobsStatus, protocol.HostsStatus, protocol.JobDetails,
                            protocol.ClusterQueuesStatus, protocol.SelectQueues, protocol.WaitJobs))
