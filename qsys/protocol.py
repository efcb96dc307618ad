"""Messages and framing shared by the master, the exec daemons and the clients.

A frame is a 4-byte big-endian length followed by a msgpack map. The map's key ``"t"``
names the message type; the other keys are the fields of the dataclass registered under
that name. Fields hold plain msgpack values (str, int, float, bytes, bool, None, lists and
maps); richer objects (a :class:`qsys.jobspec.JobSpec`) travel as their ``to_wire()`` map.

Clients are synchronous (``send_sync``/``recv_sync`` on a plain socket, no asyncio import);
daemons use ``read_message``/``write_message`` on asyncio streams, imported lazily.
"""

from __future__ import annotations

import struct

import msgpack

from qsys import record as dataclasses
from qsys.errors import ProtocolError
from qsys.record import dataclass, field

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs a command milliseconds at run time
    import _socket
    import asyncio
    from typing import Any, Generic, TypeVar

    M = TypeVar("M")
    H = TypeVar("H")  # the handler type of one table

    class _TableBase(Generic[H]):
        pass
else:
    H = None

    class _TableBase:
        def __class_getitem__(cls, _item: object) -> type:
            return cls

MAX_FRAME = 256 * 1024 * 1024
_HEADER = struct.Struct(">I")

_REGISTRY: dict[str, type] = {}
_NAMES: dict[type, str] = {}


def message(name: str):
    """Register a dataclass as the message type ``name``."""

    def register(cls: type[M]) -> type[M]:
        if name in _REGISTRY:
            raise ValueError(f"message type {name!r} registered twice")
        _REGISTRY[name] = cls
        _NAMES[cls] = name
        return cls

    return register


def encode(msg: Any) -> bytes:
    """One frame for ``msg``."""
    try:
        name = _NAMES[type(msg)]
    except KeyError:
        raise ProtocolError(f"unregistered message type {type(msg).__name__}") from None
    body = {f.name: getattr(msg, f.name) for f in dataclasses.fields(msg)}
    body["t"] = name
    payload = msgpack.packb(body, use_bin_type=True)
    return _HEADER.pack(len(payload)) + payload


def decode(payload: bytes) -> Any:
    """The message in one frame's payload (without its length header)."""
    try:
        body = msgpack.unpackb(payload, raw=False, strict_map_key=False)
        cls = _REGISTRY[body.pop("t")]
        return cls(**body)
    except (KeyError, TypeError, ValueError, msgpack.UnpackException) as exc:
        raise ProtocolError(f"malformed message: {exc}") from None


class HandlerTable(_TableBase[H]):
    """Message type -> handler, for one kind of link (client requests, an exec daemon link).

    Filled explicitly where a daemon is wired (``qsys.master.main``): what a daemon answers
    is read in one place, and a message without an entry is a :class:`ProtocolError`.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._handlers: dict[type, H] = {}

    def add(self, msg_type: type, handler: H) -> None:
        if msg_type not in _NAMES:
            raise ValueError(f"{msg_type.__name__} is not a message type")
        if msg_type in self._handlers:
            raise ValueError(f"{self.name}: {msg_type.__name__} handled twice")
        self._handlers[msg_type] = handler

    def lookup(self, msg: Any) -> H:
        """The handler of ``msg``; ProtocolError when this link does not take its type."""
        try:
            return self._handlers[type(msg)]
        except KeyError:
            raise ProtocolError(f"unexpected {type(msg).__name__} on a {self.name} link") from None

    def __contains__(self, msg_type: type) -> bool:
        return msg_type in self._handlers

    def __len__(self) -> int:
        return len(self._handlers)


# ---------------------------------------------------------------- synchronous I/O (clients)


def _recv_exact(sock: _socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ProtocolError("connection closed by peer")
        buf += chunk
    return bytes(buf)


def send_sync(sock: _socket.socket, msg: Any) -> None:
    sock.sendall(encode(msg))


def recv_sync(sock: _socket.socket) -> Any:
    (length,) = _HEADER.unpack(_recv_exact(sock, 4))
    if length > MAX_FRAME:
        raise ProtocolError(f"frame of {length} bytes is too large")
    return decode(_recv_exact(sock, length))


# ---------------------------------------------------------------- asyncio I/O (daemons)


async def read_message(reader: asyncio.StreamReader) -> Any:
    """The next message, or ``None`` at a clean end of stream."""
    import asyncio

    try:
        header = await reader.readexactly(4)
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise ProtocolError("connection closed inside a frame") from None
    (length,) = _HEADER.unpack(header)
    if length > MAX_FRAME:
        raise ProtocolError(f"frame of {length} bytes is too large")
    try:
        payload = await reader.readexactly(length)
    except asyncio.IncompleteReadError:
        raise ProtocolError("connection closed inside a frame") from None
    return decode(payload)


def write_message(writer: asyncio.StreamWriter, msg: Any) -> None:
    """Queue ``msg`` on ``writer`` (the caller drains when it must)."""
    writer.write(encode(msg))


# ================================================================ generic replies


@message("ok")
@dataclass
class Ok:
    """Success; ``data`` is the request's result."""

    data: Any = None


@message("fail")
@dataclass
class Fail:
    """Failure; the client re-raises ``qsys.errors.error_from_wire(kind, message)``."""

    kind: str
    message: str


# ================================================================ client -> master


@message("hello")
@dataclass
class Hello:
    """First message on a TCP connection: who the client is.

    ``credential`` is a map signed with the cluster key (``qsys.auth.sign_credential``);
    on the Unix socket the master ignores it and asks the kernel (SO_PEERCRED).
    """

    credential: dict[str, Any] | None = None
    client: str = ""


@message("submit")
@dataclass
class Submit:
    """Submit one job; ``spec`` is ``JobSpec.to_wire()``. Replies Ok({job_id, ...})."""

    spec: dict[str, Any]


@message("submit_many")
@dataclass
class SubmitMany:
    """Bulk submission of several specs in one durable commit. Replies Ok([job_id, ...])."""

    specs: list[dict[str, Any]]


@message("jobs_status")
@dataclass
class JobsStatus:
    """qstat: the job rows. ``users`` filters by owner (None or ["*"] = all); ``options``:
    ``brief`` (no extras), ``states`` (qstat -s letters), ``urgency`` (-urg/-pri figures)."""

    users: list[str] | None = None
    options: dict[str, Any] = field(default_factory=dict)


@message("queues_status")
@dataclass
class QueuesStatus:
    """qstat -f: the queue instances and the job rows (as JobsStatus)."""

    users: list[str] | None = None
    options: dict[str, Any] = field(default_factory=dict)


@message("hosts_status")
@dataclass
class HostsStatus:
    """qhost: one row per exec host, with its queue instances."""


@message("job_details")
@dataclass
class JobDetails:
    """qstat -j: the details of jobs named by id or name."""

    job_ids: list[str]


@message("cluster_queues_status")
@dataclass
class ClusterQueuesStatus:
    """qstat -g c: one summary per cluster queue."""


@message("job_action")
@dataclass
class JobAction:
    """qdel / qhold / qrls on job ids (``"12"``, ``"12.3"``, ``"12.1-5:2"``) or ``users``.

    ``action`` is "delete", "hold" or "release"; ``hold_type`` is "u", "o" or "s".
    Replies Ok([line, ...]) with Grid Engine's per-job messages, or Fail.
    """

    action: str
    targets: list[str] = field(default_factory=list)
    users: list[str] = field(default_factory=list)
    force: bool = False
    hold_type: str = "u"


@message("wait_jobs")
@dataclass
class WaitJobs:
    """Block until the jobs have finished (qsub -sync y). Replies Ok([{job_id, task_id,
    exit_status, failed, signal}, ...]) one per task as each finishes... in one reply."""

    job_ids: list[int]


@message("shutdown")
@dataclass
class Shutdown:
    """Stop the master (manager only); exec daemons are told to stop when ``execds`` is set."""

    execds: bool = False


# ================================================================ exec daemon <-> master


@message("execd_hello")
@dataclass
class ExecdHello:
    """First message of an exec daemon: its name and proof that it knows the cluster key
    (HMAC over the master's challenge, see ``qsys.auth``)."""

    host: str
    proof: bytes
    nonce: bytes


@message("challenge")
@dataclass
class Challenge:
    """The master's random challenge, sent first on every TCP and Unix connection."""

    nonce: bytes


@message("register")
@dataclass
class Register:
    """Host facts and the jobs the exec daemon still knows (running or finished unacked)."""

    host: str
    arch: str
    processors: int
    mem_total: int
    swap_total: int
    load: dict[str, float]
    jobs: list[dict[str, Any]] = field(default_factory=list)
    sockets: int = 1
    cores: int = 1
    threads: int = 1


@message("load_report")
@dataclass
class LoadReport:
    host: str
    load: dict[str, float]


@message("host_config")
@dataclass
class HostConfig:
    """The effective configuration of a host (global merged with its local one)."""

    config: dict[str, str]


@message("start_job")
@dataclass
class StartJob:
    """Run one task on this host. ``job`` holds everything the shepherd needs (see
    ``execd.spool``): spec, owner, ids, queue, slots, environment facts, script bytes."""

    job: dict[str, Any]


@message("job_started")
@dataclass
class JobStarted:
    job_id: int
    task_id: int
    pid: int
    start_time: float


@message("job_failed_start")
@dataclass
class JobFailedStart:
    job_id: int
    task_id: int
    reason: str
    error_state: bool = False


@message("job_finished")
@dataclass
class JobFinished:
    """A task ended; ``report`` is the shepherd's exit report (status, signal, rusage, times).
    The exec daemon repeats it until the master acknowledges with FinishedAck."""

    job_id: int
    task_id: int
    report: dict[str, Any]


@message("finished_ack")
@dataclass
class FinishedAck:
    job_id: int
    task_id: int


@message("kill_job")
@dataclass
class KillJob:
    """End a task: ``signal`` (default SIGKILL) to all of its processes."""

    job_id: int
    task_id: int
    signal: int = 9


@message("execd_shutdown")
@dataclass
class ExecdShutdown:
    """Stop the exec daemon; running jobs keep running under their shepherds."""

    reason: str = ""


@message("signal_job")
@dataclass
class SignalJob:
    """Send ``signal`` to a task's processes without ending it (SIGSTOP/SIGCONT for
    qmod suspend/unsuspend, calendars, thresholds, subordinates)."""

    job_id: int
    task_id: int
    signal: int


@message("queue_action")
@dataclass
class QueueAction:
    """qmod: ``action`` (disable enable suspend unsuspend clear reschedule) on ``targets``
    (queue patterns, or job ids when ``jobs`` is set; both when ``jobs`` is None).
    Replies Ok({lines, exit})."""

    action: str
    targets: list[str] = field(default_factory=list)
    jobs: bool | None = None
    force: bool = False


@message("alter_job")
@dataclass
class AlterJob:
    """qalter: ``changes`` (JobSpec fields from the qsub options given) on ``targets``
    (job ids or names, or all jobs of ``users``); ``verify`` is -w v. Replies Ok({lines, exit})."""

    targets: list[str]
    changes: dict[str, Any]
    users: list[str] = field(default_factory=list)
    verify: str = ""


@message("select_queues")
@dataclass
class SelectQueues:
    """qselect: queue instance names matching the filters. Replies Ok([name, ...])."""

    filters: dict[str, Any] = field(default_factory=dict)


# ================================================================ configuration objects (qconf)


@message("conf_request")
@dataclass
class ConfRequest:
    """One operation of the generic object path (``qsys.master.objects``).

    ``op``: "show", "list", "template", "add", "modify", "delete" or "attr"; ``kind`` a key of
    ``qsys.objects.KINDS`` or a name list ("manager", "operator", "adminhost", "submithost").
    ``text`` is the object's Grid Engine text (add/modify); ``attrs`` carries the -*attr
    edit ({"mode": "mattr|rattr|aattr|dattr", "attr", "value", "objects": [...]}).
    Replies Ok({"text", "data"}) for show, Ok({"names"}) for list, Ok({"lines", "exit"}) else.
    """

    op: str
    kind: str
    name: str = ""
    text: str = ""
    attrs: dict[str, Any] = field(default_factory=dict)


# ================================================================ interactive sessions
# (qrsh, qrlogin, qlogin; see qsys.master.sessions, qsys.startup and execd.startup)


@message("session_submit")
@dataclass
class SessionSubmit:
    """Submit an interactive job (``spec.job_type`` qrsh/qrlogin/qlogin). ``-now y`` jobs are
    dispatched in this request or refused with NotSchedulable. Replies Ok({job_id, name})."""

    spec: dict[str, Any]


@message("session_wait")
@dataclass
class SessionWait:
    """Wait until the session of ``job_id`` listens (job owner only). Replies Ok with the
    grant: {job_id, host, addresses, port, token, method, command, daemon}."""

    job_id: int


@message("session_ready")
@dataclass
class SessionReady:
    """Exec daemon -> master: the task's session port is bound (``addresses``: the host's
    addresses, most useful first) or could not be (``error``)."""

    job_id: int
    task_id: int
    port: int = 0
    addresses: list[str] = field(default_factory=list)
    error: str = ""


# ================================================================ parallel jobs (master <-> exec daemons)


@message("pe_slave_start")
@dataclass
class PeSlaveStart:
    """A PE job holds slots on this (slave) host: ``job`` is its Launch map for this host.
    The exec daemon gives it an extra group ID here and accepts its qrsh -inherit tasks."""

    job: dict[str, Any]


@message("pe_slave_end")
@dataclass
class PeSlaveEnd:
    """The PE job ended (or is deleted): kill everything carrying its group ID on this host."""

    job_id: int
    task_id: int
    signal: int = 9


@message("pe_task_started")
@dataclass
class PeTaskStarted:
    """An exec daemon tells the master of a task it started with qrsh -inherit."""

    job_id: int
    task_id: int
    pe_task_id: str
    host: str
    pid: int = 0


@message("pe_task_finished")
@dataclass
class PeTaskFinished:
    """A pe task ended; repeated until PeTaskAck (its accounting record is written once)."""

    job_id: int
    task_id: int
    pe_task_id: str
    host: str
    report: dict[str, Any]


@message("pe_task_ack")
@dataclass
class PeTaskAck:
    job_id: int
    task_id: int
    pe_task_id: str


@message("pe_inherit_port")
@dataclass
class PeInheritPort:
    """Exec daemon -> master after registering: where it accepts qrsh -inherit tasks."""

    host: str
    port: int
    addresses: list[str] = field(default_factory=list)
