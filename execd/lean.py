"""The lean shepherd: a plain batch task started under ``qsys-shepherd`` (execd/shepherd_lean.c).

A forked Python shepherd costs a trivial job ~10 ms of CPU or more (copy-on-write faults of the
forkserver's heap, the interpreter's bookkeeping); the C shepherd a few times less. It samples
the carriers of the job's extra group ID as ``execd.usage.GroupSampler`` does (foreign ones
too: processes that came in through sshd) and ends them with the job. The exec
daemon makes every decision the Python shepherd would make (identity, TMPDIR's name, output
paths, environment, command, limits: the same functions of ``execd.shepherd``), writes them to
the task directory's ``plan`` file and spawns the binary, which carries them out and writes the
files ``execd.shepherd`` writes (shepherd.pid, tmpdir, job.pid, trace, error, usage.json,
exit.json), the same content, so the daemon, its restart and its reaper see no difference.

Only the plain case goes lean; the Python shepherd keeps what the C one does not do: sessions,
pe tasks and PE jobs (start/stop procedures, host file, qrsh -inherit), checkpointing, prolog
and epilog, and every start that fails before the job (identity refused,
no shell, a TMPDIR name taken), whose reports it writes. ``QSYS_SHEPHERD=python`` sends every
task to the Python shepherd; so does a missing binary.

The plan file is a list of NUL-terminated ``key=value`` records; list keys repeat in order
(``arg``, ``env``, ``fallback``, ``group``, ``chown``, ``rlimit``).
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import os
import resource
import signal
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from execd import identity
from execd.shepherd import StartFailed, job_plan, limits, tmpdir_path
from execd.spool import TaskDir
from qsys.launch import Launch

PLAN = "plan"
BINARY = "qsys-shepherd"
ENV_BINARY = "QSYS_SHEPHERD_BIN"  # where the binary is, when not $(PREFIX)/lib
ENV_CHOICE = "QSYS_SHEPHERD"  # "python": every task under the Python shepherd
SPARES = 4  # spare lean shepherds the daemon keeps (a pass's starts to a host come together)
_LISTS = ("args", "env", "fallback", "groups", "chown", "rlimits")
_KEYS = {"args": "arg", "env": "env", "fallback": "fallback", "groups": "group", "chown": "chown",
         "rlimits": "rlimit"}


@dataclass
class LeanPlan:
    """What ``qsys-shepherd`` does; ``uid``/``gid`` None: no identity switch; ``groups``
    None: the groups stay as they are."""

    task: str
    user: str
    cwd: str
    exe: str
    args: list[str]
    env: list[str]  # "NAME=value"
    stdin: str
    stdout: str
    stderr: str | None  # None: joined to stdout
    tmpdir: str
    uid: int | None = None
    gid: int | None = None
    groups: list[str] | None = None
    search: bool = False  # -b y: the command is looked up in the job's PATH
    fallback: list[str] = field(default_factory=list)  # unix_behavior: a script without "#!"
    chown: list[str] = field(default_factory=list)  # files of the task directory the job reads
    sample: int | None = None  # the extra group ID whose carriers are sampled (root only)
    h_rt: float | None = None
    s_rt: float | None = None
    rlimits: list[str] = field(default_factory=list)  # "as:SOFT:HARD", -1 unlimited

    def to_bytes(self) -> bytes:
        records: list[str] = []
        for name, value in vars(self).items():
            if name in _LISTS:
                records.extend(f"{_KEYS[name]}={item}" for item in (value or []))
            elif name in ("search",):
                if value:
                    records.append(f"{name}=1")
            elif value is not None:
                records.append(f"{name}={value!r}" if isinstance(value, float) else f"{name}={value}")
        if self.stderr is None:
            records.append("joined=1")
        return b"".join(r.encode(errors="surrogateescape") + b"\0" for r in records)

    @classmethod
    def from_bytes(cls, data: bytes) -> LeanPlan:
        """The plan of a plan file (as ``qsys-shepherd`` reads it)."""
        values: dict[str, Any] = {name: [] for name in _LISTS}
        names = {key: name for name, key in _KEYS.items()}
        values["groups"] = None
        values["stderr"] = None
        for record in data.split(b"\0")[:-1]:
            key, _, raw = record.decode(errors="surrogateescape").partition("=")
            if key in names:
                if values[names[key]] is None:
                    values[names[key]] = []
                values[names[key]].append(raw)
            elif key in ("uid", "gid", "sample"):
                values[key] = int(raw)
            elif key in ("h_rt", "s_rt"):
                values[key] = float(raw)
            elif key == "search":
                values[key] = True
            elif key != "joined":
                values[key] = raw
        return cls(**values)


def binary() -> str | None:
    """The lean shepherd's binary when it is there and wanted (None: the Python shepherd)."""
    if os.environ.get(ENV_CHOICE, "") == "python":
        return None
    path = os.environ.get(ENV_BINARY) or str(Path(sys.prefix).parent / "lib" / BINARY)
    return path if os.access(path, os.X_OK) else None


def eligible(launch: Launch) -> bool:
    """Whether the lean shepherd does everything this task needs."""
    return (launch.session is None and not launch.pe_task_id and not launch.pe and not launch.hosts
            and not launch.pe_start and not launch.pe_stop and not launch.pe_token and not launch.checkpoint
            and not launch.prolog and not launch.epilog)


def _names(groups: list[int] | None) -> list[str] | None:
    return None if groups is None else [str(g) for g in groups]


def prepare(tdir: TaskDir, launch: Launch, conf: dict[str, Any]) -> tuple[LeanPlan, identity.Identity] | None:
    """The plan of a task for the lean shepherd, None when the Python shepherd must start it
    (a failure before the job is the Python shepherd's to report)."""
    try:
        ident = identity.decide(identity.IdentityPolicy.from_conf(conf), launch)
    except identity.IdentityRefused:
        return None
    tmpdir = tmpdir_path(launch)
    if os.path.lexists(tmpdir):
        return None  # the name is taken: the Python shepherd finds another
    try:
        plan = job_plan(tdir, launch, ident, tmpdir, conf)
    except (StartFailed, OSError):
        return None
    files = plan.files
    lean = LeanPlan(
        task=launch.task_key, user=ident.user, cwd=plan.cwd, exe=plan.exe, args=plan.argv,
        env=[f"{k}={v}" for k, v in plan.env.items()], stdin=plan.stdin_script or files.stdin,
        stdout=files.stdout, stderr=None if files.joined else files.stderr, tmpdir=tmpdir,
        groups=_names(identity.job_groups(ident)), search=plan.search_path, fallback=plan.fallback or [],
        h_rt=launch.h_rt, s_rt=launch.s_rt,
        rlimits=[f"{'as' if res == resource.RLIMIT_AS else 'cpu'}:{soft}:{hard}" for res, soft, hard in limits(launch)],
    )
    if ident.switch:
        lean.uid, lean.gid = ident.uid, ident.gid
        lean.chown = [str(tdir.script_path)]
    if ident.extra_gid is not None and os.geteuid() == 0:
        lean.sample = ident.extra_gid
    return lean, ident


def write_plan(tdir: TaskDir, lean: LeanPlan) -> None:
    """The plan file (not atomically: its shepherd is started or told of it only after)."""
    fd = os.open(tdir.file(PLAN), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, lean.to_bytes())
    finally:
        os.close(fd)


def start(path: str, tdir: TaskDir) -> int:
    """Start the lean shepherd on a task directory with its plan, in a session of its own (its
    pid: a child of the daemon, which reaps it). OSError when it cannot start."""
    return os.posix_spawn(path, [path, str(tdir.path)], {}, setsid=True, setsigmask=(),
                          setsigdef=(signal.SIGPIPE, signal.SIGXFSZ))


def spawn(path: str, tdir: TaskDir, lean: LeanPlan) -> int:
    """Write the plan and start the lean shepherd on it."""
    write_plan(tdir, lean)
    return start(path, tdir)


_libc = ctypes.CDLL(None, use_errno=True)  # a call through ctypes releases the GIL
_ACTIONS_SIZE = 256  # bytes for a posix_spawn_file_actions_t (80 with glibc on x86-64)


def spawn_waiting(path: str) -> tuple[int, int]:
    """A lean shepherd that waits for its task directory's path on a pipe: (pid, the pipe's
    write end). posix_spawn through ctypes, so the daemon's loop runs while it execs
    (``os.posix_spawn`` holds the GIL: ~7 ms of a loaded host's loop a start)."""
    read_end, write_end = os.pipe2(os.O_CLOEXEC)  # fd 0 of the spare, a copy without O_CLOEXEC
    actions = ctypes.create_string_buffer(_ACTIONS_SIZE)
    try:
        if _libc.posix_spawn_file_actions_init(actions) != 0 or \
                _libc.posix_spawn_file_actions_adddup2(actions, read_end, 0) != 0:
            raise OSError(ctypes.get_errno(), "posix_spawn_file_actions")
        argv = (ctypes.c_char_p * 3)(os.fsencode(path), b"-", None)
        envp = (ctypes.c_char_p * 1)(None)
        pid = ctypes.c_int(0)
        err = _libc.posix_spawn(ctypes.byref(pid), os.fsencode(path), actions, None, argv, envp)
        _libc.posix_spawn_file_actions_destroy(actions)
        if err != 0:
            raise OSError(err, f"posix_spawn {path}: {os.strerror(err)}")
    except BaseException:
        os.close(write_end)
        raise
    finally:
        os.close(read_end)
    return pid.value, write_end


class Spares:
    """Lean shepherds started ahead of their tasks, by a worker thread: a start hands a spare
    its task directory (one write to its pipe) instead of waiting for an exec. A spare whose
    pipe is closed without a path exits (``discard``, the daemon's end)."""

    def __init__(self, count: int = SPARES) -> None:
        self.count = count
        self.path: str | None = None
        self._ready: collections.deque[tuple[int, int]] = collections.deque()
        self._lock = threading.Lock()
        self._wanted = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False

    def take(self, path: str, task_dir: str) -> int | None:
        """The pid of a spare of ``path`` that now runs ``task_dir``; None without one (the
        worker is asked for more either way)."""
        with self._lock:
            if path != self.path:
                self._discard_locked()
                self.path = path
            spares = list(self._ready)
            self._ready.clear()
        pid = None
        while spares and pid is None:
            spare, pipe = spares.pop(0)
            try:
                os.write(pipe, os.fsencode(task_dir) + b"\n")  # shorter than PIPE_BUF: whole or not at all
                pid = spare
            except OSError:  # it is gone (killed): the next one
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(spare, os.WNOHANG)
            finally:
                os.close(pipe)
        with self._lock:
            self._ready.extendleft(reversed(spares))
        self._ask()
        return pid

    def _ask(self) -> None:
        if self._thread is None and not self._closed:
            self._thread = threading.Thread(target=self._fill, name="lean-spares", daemon=True)
            self._thread.start()
        self._wanted.set()

    def _fill(self) -> None:
        while not self._closed:
            self._wanted.wait()
            self._wanted.clear()
            while not self._closed:
                with self._lock:
                    path = self.path
                    if path is None or len(self._ready) >= self.count:
                        break
                try:
                    spare = spawn_waiting(path)
                except OSError:
                    break  # the binary went away: starts find no spare and spawn (or fall back)
                with self._lock:
                    if path == self.path and not self._closed:
                        self._ready.append(spare)
                        continue
                os.close(spare[1])

    def _discard_locked(self) -> None:
        for _pid, pipe in self._ready:
            os.close(pipe)  # EOF: the spare exits without running anything
        self._ready.clear()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._discard_locked()
        self._wanted.set()
