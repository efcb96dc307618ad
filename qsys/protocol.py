"""Messages and framing shared by the master, the exec daemons and the clients.

A frame is a 4-byte big-endian length followed by a msgpack map. The map's key ``"t"``
names the message type; the other keys are the fields of the record registered under that
name that differ from their defaults. Nested records (a :class:`qsys.jobspec.JobSpec`, the
rows of :mod:`qsys.records`, an :class:`ExitReport`) travel as maps of their fields too. On
arrival every field is checked against its annotation (``qsys.record.from_map``): a message
of the wrong shape is a :class:`ProtocolError` naming the field, never a traceback later.

Every request has a typed reply (:class:`Submitted`, :class:`Lines`, :class:`JobRows`, ...)
or :class:`Fail`.

Clients are synchronous (``send_sync``/``recv_sync`` on a plain socket, no asyncio import);
daemons use ``read_message``/``write_message`` on asyncio streams, imported lazily. A
client's small frames are packed and unpacked in plain Python (``qsys.wirepack``: the same
bytes, without the cost of importing msgpack at each command's start); everything else, and
everything a daemon sends or receives, goes through msgpack's C codec.
"""

from __future__ import annotations

import struct
import sys

from qsys import wirepack
from qsys.arspec import ArRecord, ArSpec
from qsys.errors import ProtocolError
from qsys.jobspec import JobSpec
from qsys.record import ShapeError, dataclass, field, from_map, to_map
from qsys.records import (
    ClusterQueueRow,
    HostRow,
    JobDetail,
    JobRow,
    MasterMetrics,
    QueueInstanceRow,
    QuotaRow,
    Row,
    Submitted,
    TaskEnd,
)

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

MAX_FRAME = 256 * 1024 * 1024  # what a client takes from its master (a qstat of many jobs)
MAX_REQUEST = 64 * 1024 * 1024  # what a daemon takes from an authenticated peer
MAX_HELLO = 64 * 1024  # what a daemon takes before the peer is authenticated
LEAN_FRAME = 16 * 1024  # the largest frame a client unpacks in plain Python (wirepack)
_HEADER = struct.Struct(">I")
# Arguments, environments and paths are bytes on Unix; Python holds the bytes that are not
# UTF-8 as lone surrogates (surrogateescape), and so does the wire: the job sees them exactly.
_TEXT_ERRORS = "surrogateescape"


class PeerClosed(ProtocolError):
    """The other end closed the connection (before or inside a frame)."""


class MalformedMessage(ProtocolError):
    """A whole frame arrived but is no message of ours: the link can answer and go on."""

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


def _nested(obj: Any) -> Any:
    """The packer's hook for what msgpack does not know: records become maps."""
    if hasattr(type(obj), "__record_fields__"):
        return to_map(obj)
    raise TypeError(f"cannot send {type(obj).__name__}")


def message_name(msg_type: type) -> str:
    """The name a message type is registered under (``"jobs_status"``)."""
    return _NAMES[msg_type]


class Frame:
    """A reply encoded once and sent as it is: the master's status cache hands the same
    frame to every poll until the state changes (``qsys.master.status_cache``)."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


def _lean() -> bool:
    """May this process pack and unpack in plain Python? Until it has needed msgpack's C
    codec (a daemon, a command with a large frame): after that the import is paid for."""
    return "msgpack" not in sys.modules


def encode(msg: Any, *, lean: bool = False) -> bytes:
    """One frame for ``msg`` (``lean``: a client's, see ``qsys.wirepack``)."""
    if type(msg) is Frame:
        return msg.data
    try:
        name = _NAMES[type(msg)]
    except KeyError:
        raise ProtocolError(f"unregistered message type {type(msg).__name__}") from None
    body = to_map(msg)
    body["t"] = name
    payload = None
    if lean and _lean():
        try:
            payload = wirepack.packb(body, _nested)
        except wirepack.TooLarge:
            pass
    if payload is None:
        import msgpack

        payload = msgpack.packb(body, use_bin_type=True, default=_nested, unicode_errors=_TEXT_ERRORS)
    return _HEADER.pack(len(payload)) + payload


def _unpack(payload: bytes, lean: bool) -> Any:
    if lean and len(payload) <= LEAN_FRAME and _lean():
        return wirepack.unpackb(payload)
    import msgpack

    try:
        return msgpack.unpackb(payload, raw=False, strict_map_key=False, unicode_errors=_TEXT_ERRORS)
    except msgpack.UnpackException as exc:  # the ones that are not ValueErrors
        raise ValueError(str(exc)) from None


def decode(payload: bytes, *, lean: bool = False) -> Any:
    """The message in one frame's payload (without its length header); MalformedMessage when
    it is not one (``lean``: a client's, see ``qsys.wirepack``)."""
    try:
        body = _unpack(payload, lean)
    except (ValueError, TypeError, RecursionError) as exc:  # TypeError: a list as a map key
        raise MalformedMessage(f"malformed message: {_short(exc)}") from None
    if not isinstance(body, dict):
        raise MalformedMessage("malformed message: not a map")
    name = body.pop("t", None)
    cls = _REGISTRY.get(name) if isinstance(name, str) else None
    if cls is None:
        raise MalformedMessage(f"malformed message: unknown message type {_short(name)}")
    try:
        return from_map(cls, body, strict=True, where=name)
    except (TypeError, ValueError, RecursionError) as exc:
        raise MalformedMessage(f"malformed message: {_short(exc)}") from None


def _short(what: object, limit: int = 200) -> str:
    """A peer's value in an error message, cut to a readable length."""
    text = (str(what) or type(what).__name__) if isinstance(what, BaseException) else repr(what)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


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
            raise PeerClosed("connection closed by peer")
        buf += chunk
    return bytes(buf)


def send_sync(sock: _socket.socket, msg: Any) -> None:
    sock.sendall(encode(msg, lean=True))


def recv_sync(sock: _socket.socket, limit: int = MAX_FRAME) -> Any:
    (length,) = _HEADER.unpack(_recv_exact(sock, 4))
    if length > limit:
        raise ProtocolError(f"frame of {length} bytes is too large")
    return decode(_recv_exact(sock, length), lean=True)


# ---------------------------------------------------------------- asyncio I/O (daemons)


async def read_message(reader: asyncio.StreamReader, limit: int = MAX_REQUEST) -> Any:
    """The next message, or ``None`` at a clean end of stream. A frame longer than ``limit``
    is refused after its header, before any of it is read (MAX_HELLO before the peer is
    authenticated)."""
    import asyncio

    try:
        header = await reader.readexactly(4)
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise PeerClosed("connection closed inside a frame") from None
    (length,) = _HEADER.unpack(header)
    if length > limit:
        raise ProtocolError(f"frame of {length} bytes is too large (at most {limit} here)")
    try:
        payload = await reader.readexactly(length)
    except asyncio.IncompleteReadError:
        raise PeerClosed("connection closed inside a frame") from None
    return decode(payload)


def write_message(writer: asyncio.StreamWriter, msg: Any) -> None:
    """Queue ``msg`` on ``writer`` (the caller drains when it must)."""
    writer.write(encode(msg))


class Outbox:
    """The messages queued on one link in one turn of the event loop leave in one write.

    One system call and one wake-up of the peer for all of them instead of one each: the
    start orders of a pass and the acknowledgements of the ends committed with them (master
    to exec daemon), the ends a host saw at once (exec daemon to master), as Grid Engine
    sends its orders and job reports in packs. Frames stay whole and in order; a peer reads
    them one by one as before. Every message of the link must go through the outbox (or
    :meth:`flush` first) to keep that order.
    """

    __slots__ = ("_frames", "writer")

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self._frames: list[bytes] = []

    def put(self, msg: Any) -> None:
        if not self._frames:
            import asyncio

            asyncio.get_running_loop().call_soon(self.flush)
        self._frames.append(encode(msg))

    def flush(self) -> None:
        frames, self._frames = self._frames, []
        if frames and not self.writer.is_closing():
            self.writer.write(b"".join(frames))


# ================================================================ generic replies


@message("ok")
@dataclass
class Ok:
    """Success of a request that returns nothing else (``message`` says what happens)."""

    message: str = ""


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


@message("welcome")
@dataclass
class Welcome:
    """The master's answer to Hello: who it took the client for."""

    user: str


@message("submit")
@dataclass
class Submit:
    """Submit one job. Replies :class:`Submitted`."""

    spec: JobSpec


@message("submit_many")
@dataclass
class SubmitMany:
    """Bulk submission of several specs in one durable commit. Replies SubmittedMany."""

    specs: list[JobSpec]


message("submitted")(Submitted)


@message("submitted_many")
@dataclass
class SubmittedMany:
    jobs: list[Submitted]


@message("lines")
@dataclass
class Lines(Row):
    """What a command prints (Grid Engine's messages, one per job, queue or object) and its
    exit code."""

    lines: list[str] = field(default_factory=list)
    exit: int = 0


@message("jobs_status")
@dataclass
class JobsStatus:
    """qstat: the job rows (replies :class:`JobRows`). ``users`` filters by owner (None or
    ["*"] = all); ``brief`` leaves out the extras plain qstat and -f do not print;
    ``states`` are qstat -s letters; ``urgency`` adds the -urg/-pri figures; ``queues`` (-q
    patterns) and ``resources`` (-l) select queue instances and the jobs shown with them
    (``qsys.master.qstat_select``)."""

    users: list[str] | None = None
    brief: bool = False
    states: str = ""
    urgency: bool = False
    queues: list[str] = field(default_factory=list)
    resources: dict[str, str] = field(default_factory=dict)


@message("queues_status")
@dataclass
class QueuesStatus(JobsStatus):
    """qstat -f: the queue instances and the job rows (as JobsStatus). Replies QueueRows."""


@message("status_text")
@dataclass
class StatusText:
    """qstat's output made by the master, as Open Cluster Scheduler 9.2 makes qstat's and
    qhost's: the command only prints it (5,000 rows decoded and formatted by every qstat
    cost more than the whole rest of the command). ``query`` is what the rows would be asked
    with (``full``: qstat -f, with the queue instances), ``form`` the layout ("" plain,
    "ext", "requested", "tasks", "xml"), ``xml_forms`` the -ext/-r/-t additions of -xml.
    Times are printed in the local time zone: the master renders only when ``zone``
    (:func:`time_zone`) is its own, and replies the rows otherwise (JobRows, or
    QueueRows with ``full``) for the command to format. Replies StatusReply."""

    query: JobsStatus
    full: bool = False
    form: str = ""
    xml_forms: list[str] = field(default_factory=list)
    explain: str = ""
    zone: str = ""


def time_zone() -> str:
    """What names the local time zone qstat prints its times in: ``TZ`` when set, else where
    /etc/localtime links to; "" when that cannot be told (a copied zone file, which the
    master then never takes for its own)."""
    import os

    tz = os.environ.get("TZ")
    if tz is not None:
        return f"TZ={tz}"
    try:
        return os.readlink("/etc/localtime")
    except FileNotFoundError:
        return "UTC"  # no zone file: the C library's default
    except OSError:
        return ""


@message("status_reply")
@dataclass
class StatusReply:
    text: str


@message("hosts_status")
@dataclass
class HostsStatus:
    """qhost: one row per exec host, with its queue instances. Replies HostRows."""


@message("job_details")
@dataclass
class JobDetails:
    """qstat -j: the details of jobs named by id or name. Replies JobDetailRows."""

    job_ids: list[str]


@message("cluster_queues_status")
@dataclass
class ClusterQueuesStatus:
    """qstat -g c: one summary per cluster queue. Replies ClusterQueueRows."""


@message("metrics_status")
@dataclass
class MetricsStatus:
    """The master's own figures: pass times, latencies, counters. Replies MasterMetrics."""


message("master_metrics")(MasterMetrics)


@message("job_rows")
@dataclass
class JobRows:
    rows: list[JobRow]


@message("queue_rows")
@dataclass
class QueueRows(Row):
    queues: list[QueueInstanceRow]
    jobs: list[JobRow]


@message("host_rows")
@dataclass
class HostRows:
    hosts: list[HostRow]


@message("job_detail_rows")
@dataclass
class JobDetailRows(Row):
    details: list[JobDetail]
    missing: list[str] = field(default_factory=list)  # names and ids that matched no job


@message("cluster_queue_rows")
@dataclass
class ClusterQueueRows:
    rows: list[ClusterQueueRow]


@message("job_action")
@dataclass
class JobAction:
    """qdel / qhold / qrls on job ids (``"12"``, ``"12.3"``, ``"12.1-5:2"``) or ``users``.

    ``action`` is "delete", "hold" or "release"; ``hold_type`` is "u", "o" or "s".
    Replies :class:`Lines` with Grid Engine's per-job messages, or Fail.
    """

    action: str
    targets: list[str] = field(default_factory=list)
    users: list[str] = field(default_factory=list)
    force: bool = False
    hold_type: str = "u"


@message("wait_jobs")
@dataclass
class WaitJobs:
    """Block until the jobs have finished (qsub -sync y). Replies TaskEnds: one per task,
    all in one reply."""

    job_ids: list[int]


@message("task_ends")
@dataclass
class TaskEnds:
    ends: list[TaskEnd]


@message("shutdown")
@dataclass
class Shutdown:
    """Stop the master (manager only); exec daemons are told to stop when ``execds`` is set.
    Replies Ok."""

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
    """The master's random challenge, sent first on every TCP and Unix connection.

    In a cell with failover (``master_candidates``) it also says which master this is: the
    ``epoch`` of its lease (0: no lease) and for how many more seconds the lease is surely
    its own (``valid_for``); an exec daemon obeys a leased master only within that time,
    extended by each :class:`MasterBeat` (see ``qsys.master.lease``).
    """

    nonce: bytes
    epoch: int = 0
    valid_for: float = 0.0


@message("not_active")
@dataclass
class NotActive:
    """Sent first, instead of a Challenge, by a master host that is not the active master
    (a shadow waiting, see qsys-shadowd(8)), naming the active one (``host:port``) when it
    knows it; then the connection closes."""

    active: str = ""
    epoch: int = 0


@message("master_beat")
@dataclass
class MasterBeat:
    """Master -> exec daemon, after every renewal of the lease: the link's epoch and for how
    many more seconds the master surely holds it."""

    epoch: int
    valid_for: float


@dataclass
class ExitReport(Row):
    """How a task (or a pe task) ended, as its shepherd saw it: status, usage, times.

    Usage as Grid Engine's accounting has it (``ru_*``; cpu in seconds, mem in GB seconds,
    io in GB, maxvmem in bytes). ``failed`` is Grid Engine's failure code (0: the job ran).
    """

    exit_status: int = 0
    signal: int = 0
    failed: int = 0
    start_time: float = 0.0
    end_time: float = 0.0
    error: str = ""  # why it failed
    rerun: bool = False  # put it back to pending (exit status 99, a host fault)
    error_state: bool = False  # the job goes into error state Eqw (exit status 100)
    killed: bool = False  # ended by a signal that the system sent (qdel, h_rt, ...)
    ru_wallclock: float = 0.0
    ru_utime: float = 0.0
    ru_stime: float = 0.0
    ru_maxrss: float = 0
    ru_ixrss: float = 0
    ru_ismrss: float = 0
    ru_idrss: float = 0
    ru_isrss: float = 0
    ru_minflt: float = 0
    ru_majflt: float = 0
    ru_nswap: float = 0
    ru_inblock: float = 0
    ru_oublock: float = 0
    ru_msgsnd: float = 0
    ru_msgrcv: float = 0
    ru_nsignals: float = 0
    ru_nvcsw: float = 0
    ru_nivcsw: float = 0
    cpu: float = 0.0
    mem: float = 0.0
    io: float = 0.0
    iow: float = 0.0
    maxvmem: float = 0
    foreign_cpu: float = 0.0  # cpu of processes outside the shepherd's children (pe tasks)
    pe_task_id: str = ""


def exit_report(data: dict[str, Any]) -> ExitReport:
    """The exit report of the map a shepherd writes; a field of the wrong type (a damaged
    report file) is left at its default rather than lose the end of the task."""
    try:
        return from_map(ExitReport, data)
    except ShapeError:
        fitting = {}
        for key, value in data.items():
            try:
                from_map(ExitReport, {key: value})
            except ShapeError:
                continue
            fitting[key] = value
        return from_map(ExitReport, fitting)


@dataclass
class SpoolEntry(Row):
    """A task an exec daemon's spool holds when it registers: running, or finished and not
    yet acknowledged (then with its report)."""

    job_id: int
    task_id: int
    state: str = "running"  # running | finished
    pid: int = 0
    report: ExitReport | None = None


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
    jobs: list[SpoolEntry] = field(default_factory=list)
    sockets: int = 1
    cores: int = 1
    threads: int = 1


@message("load_report")
@dataclass
class LoadReport:
    """An exec host's load values, and the usage of the tasks that run there now
    (``usage``: ``"job.task"`` -> cpu s, mem GB s, io GB, iow s, vmem and maxvmem bytes)."""

    host: str
    load: dict[str, float]
    spool_free: int = -1  # bytes free in the exec spool (-1: unknown); a queue in E for a full spool clears
    usage: dict[str, dict[str, float]] = field(default_factory=dict)


@message("host_config")
@dataclass
class HostConfig:
    """The effective configuration of a host (global merged with its local one), and the
    cell's master hosts as the master's bootstrap names them now (``master_candidates``), which
    a joined host keeps in its own bootstrap: candidates added after it joined reach it."""

    config: dict[str, str]
    master_candidates: str = ""


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
    spool_full: bool = False  # the exec spool had no room (ENOSPC): the E state clears with room


@message("job_finished")
@dataclass
class JobFinished:
    """A task ended; ``report`` is the shepherd's exit report (status, signal, rusage, times).
    The exec daemon repeats it until the master acknowledges with FinishedAck."""

    job_id: int
    task_id: int
    report: ExitReport


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


@message("migrate_job")
@dataclass
class MigrateJob:
    """A checkpointing job is suspended while its ``when`` has x: its shepherd runs the
    interface's migr_command and ends it as migrating, to run again (checkpoint(5))."""

    job_id: int
    task_id: int


@message("queue_action")
@dataclass
class QueueAction:
    """qmod: ``action`` (disable enable suspend unsuspend clear reschedule) on ``targets``
    (queue patterns, or job ids when ``jobs`` is set; both when ``jobs`` is None).
    Replies :class:`Lines`."""

    action: str
    targets: list[str] = field(default_factory=list)
    jobs: bool | None = None
    force: bool = False


@message("alter_job")
@dataclass
class AlterJob:
    """qalter: ``changes`` (JobSpec fields from the qsub options given) on ``targets``
    (job ids or names, or all jobs of ``users``); ``verify`` is -w v. Replies :class:`Lines`."""

    targets: list[str]
    changes: dict[str, Any]
    users: list[str] = field(default_factory=list)
    verify: str = ""


@message("select_queues")
@dataclass
class SelectQueues:
    """qselect: queue instance names that pass every filter given. Replies :class:`Names`."""

    queues: list[str] = field(default_factory=list)  # -q patterns
    resources: dict[str, str] = field(default_factory=dict)  # -l name=value
    pes: list[str] = field(default_factory=list)  # -pe patterns
    states: str = ""  # -qs letters (any of them)
    users: list[str] = field(default_factory=list)  # -U: instances all of them may use


@message("names")
@dataclass
class Names(Row):
    """Names: of queue instances (qselect), of objects of one kind (qconf -s*l)."""

    names: list[str] = field(default_factory=list)


# ================================================================ configuration objects (qconf)


@message("conf_request")
@dataclass
class ConfRequest:
    """One operation of the generic object path (``qsys.master.objects``).

    ``op``: "show", "list", "template", "add", "modify", "delete" or "attr"; ``kind`` a key of
    ``qsys.objects.KINDS`` or a name list ("manager", "operator", "adminhost", "submithost").
    ``text`` is the object's Grid Engine text (add/modify); ``attrs`` carries the -*attr
    edit.
    Replies :class:`ConfText` for show and template, :class:`Names` for list, :class:`Lines`
    for the changes.
    """

    op: str
    kind: str
    name: str = ""
    text: str = ""
    attrs: AttrEdit | None = None


@dataclass
class AttrEdit:
    """``qconf -mattr|-rattr|-aattr|-dattr``: ``attr`` of ``objects`` (``queue@host`` for an
    override) set to, replaced by, added or deleted ``value``."""

    mode: str = ""  # mattr | rattr | aattr | dattr
    attr: str = ""
    value: str = ""
    objects: list[str] = field(default_factory=list)


@message("conf_text")
@dataclass
class ConfText(Row):
    """One object: its Grid Engine text and its attributes (attribute -> value)."""

    text: str
    data: dict[str, Any] = field(default_factory=dict)


# ================================================================ advance reservations (qrsub, qrstat, qrdel)


@message("ar_submit")
@dataclass
class ArSubmit:
    """qrsub: reserve slots for a window (``qsys.master.advance``). Replies :class:`Lines`."""

    spec: ArSpec


@message("ar_status")
@dataclass
class ArStatus:
    """qrstat: the reservations ``ids`` names (all of ``users`` without ids; ``["*"]``:
    everyone's; none: the caller's). Replies :class:`ArRows`."""

    ids: list[int] = field(default_factory=list)
    users: list[str] = field(default_factory=list)


@message("ar_rows")
@dataclass
class ArRows(Row):
    records: list[ArRecord] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)


@message("ar_delete")
@dataclass
class ArDelete:
    """qrdel: end reservations (ids or names) or all of ``users``'; their jobs are deleted.
    Replies :class:`Lines`."""

    targets: list[str] = field(default_factory=list)
    users: list[str] = field(default_factory=list)
    force: bool = False


@message("quota_status")
@dataclass
class QuotaStatus:
    """qquota: the resource quota rules that concern ``users`` (none: the caller; ``["*"]``:
    all) and the projects, PEs, queues and hosts given. Replies :class:`QuotaRows`."""

    users: list[str] = field(default_factory=list)
    projects: list[str] = field(default_factory=list)
    pes: list[str] = field(default_factory=list)
    queues: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)


@message("quota_rows")
@dataclass
class QuotaRows(Row):
    rows: list[QuotaRow] = field(default_factory=list)


# ================================================================ interactive sessions
# (qrsh, qrlogin, qlogin; see qsys.master.sessions, qsys.startup and execd.startup)


@message("session_submit")
@dataclass
class SessionSubmit:
    """Submit an interactive job (``spec.job_type`` qrsh/qrlogin/qlogin). ``-now y`` jobs are
    dispatched in this request or refused with NotSchedulable. Replies :class:`Submitted`."""

    spec: JobSpec


@message("session_wait")
@dataclass
class SessionWait:
    """Wait until the session of ``job_id`` listens (job owner only). Replies SessionGrant."""

    job_id: int


@message("session_grant")
@dataclass
class SessionGrant(Row):
    """Where a session listens and how to reach it: the exec host, its addresses (most
    useful first) and port, the one-time token, the method and the client host's command
    and the exec host's daemon for it."""

    job_id: int
    host: str
    port: int
    addresses: list[str] = field(default_factory=list)
    token: str = ""
    method: str = ""
    command: str = ""
    daemon: str = ""


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
    report: ExitReport


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


# ================================================================ cluster membership
# (qsys join, qsys token; see qsys.master.membership). CaRequest and JoinRequest come first on
# a connection, instead of a Hello: the joining host has no identity yet.


@message("ca_request")
@dataclass
class CaRequest:
    """The cell CA's certificate (public): a joining host checks it against the pin its
    token carries before it trusts the master. Replies :class:`CaCert`."""


@message("ca_cert")
@dataclass
class CaCert:
    ca: str  # PEM
    master_names: list[str] = field(default_factory=list)  # what the master's certificate is valid for


@message("join_request")
@dataclass
class JoinRequest:
    """Join the cell as ``host`` with a one-time token (over a verified TLS connection).
    ``csr`` is the host's certificate request (its key stays on the host). Replies
    :class:`JoinGrant` or Fail."""

    token_id: str
    secret: str
    host: str
    csr: str
    submit_only: bool = False
    processors: int = 0


@message("join_grant")
@dataclass
class JoinGrant:
    """The joined host's secret (it proves this host and no other), its certificate, the
    serial the secret belongs to, and the cell's master hosts (its ``master_candidates``,
    "" without failover) for the joined host's bootstrap."""

    host: str
    secret: bytes
    certificate: str
    serial: int
    exec_host: bool = True
    master_candidates: str = ""


@dataclass
class TokenRow(Row):
    """One join token as ``qsys token list`` shows it (never its secret)."""

    id: str
    hosts: str
    created: float
    expires: float
    state: str  # unused | used | expired | revoked
    used_by: str = ""
    used_at: float = 0.0


@message("token_create")
@dataclass
class TokenCreate:
    """A new join token for hosts matching ``hosts`` valid ``ttl`` seconds (manager, admin
    host). Replies :class:`TokenIssued`."""

    hosts: str = "*"
    ttl: int = 3600


@message("token_issued")
@dataclass
class TokenIssued:
    token: str
    row: TokenRow


@message("token_list")
@dataclass
class TokenList:
    """The join tokens of the last days (manager). Replies :class:`TokenRows`."""


@message("token_rows")
@dataclass
class TokenRows:
    rows: list[TokenRow]


@message("token_revoke")
@dataclass
class TokenRevoke:
    """Revoke unused join tokens by id (manager, admin host). Replies :class:`Lines`."""

    ids: list[str]


@message("sign_request")
@dataclass
class SignRequest:
    """To a host's credential signer (its Unix socket): a credential for the caller, as the
    kernel names it, over the master's ``nonce``. Replies :class:`SignedCredential` or Fail."""

    nonce: bytes


@message("signed_credential")
@dataclass
class SignedCredential:
    credential: dict[str, Any]


@message("read_accounting")
@dataclass
class ReadAccounting:
    """qacct on a host without the accounting file (a joined host): the master's file from
    byte ``offset``, in chunks that end at a line (``devices``: the file of resource map ids
    beside it, ``accounting_devices``). Replies :class:`AccountingData`."""

    offset: int = 0
    devices: bool = False


@message("accounting_data")
@dataclass
class AccountingData:
    data: bytes
    next: int
    end: bool
