"""What a user asks for when submitting: the parsed qsub/qrsh/qlogin options.

``qsys.cli.options`` builds a :class:`JobSpec` from the command line, ``#$`` directives and
``sge_request`` files; the master validates and stores it; the scheduler reads the requests;
the exec daemon's shepherd builds the job's environment and files from it; ``qstat -j``
prints it. It travels as ``to_wire()`` (a plain map) and back through ``from_wire``.
"""

from __future__ import annotations

from qsys import record as dataclasses
from qsys.record import dataclass, field, from_map

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs a command milliseconds at run time
    from typing import Any


@dataclass
class TaskRange:
    """``-t first-last:step`` as given (Grid Engine prints ``-t 1-4:2`` as ``1-4:2``: ``last``
    need not be a task; the tasks are ``ids()``)."""

    first: int = 1
    last: int = 1
    step: int = 1

    def ids(self) -> range:
        return range(self.first, self.last + 1, self.step)

    def __len__(self) -> int:
        return len(self.ids())

    def __str__(self) -> str:
        return f"{self.first}-{self.last}:{self.step}"


@dataclass
class PeRequest:
    """``-pe name min-max``; ``name`` may hold wildcards."""

    name: str
    min_slots: int
    max_slots: int

    def __str__(self) -> str:
        if self.min_slots == self.max_slots:
            return f"{self.name} {self.min_slots}"
        return f"{self.name} {self.min_slots}-{self.max_slots}"


@dataclass(slots=True)  # a master holds one per job: 100,000 of them
class JobSpec:
    """One submission. Paths are as the user gave them; the shepherd expands them."""

    # --- what to run
    command: str = ""  # script path as given (or "STDIN"), or the binary for -b y
    args: list[str] = field(default_factory=list)  # argv after the command, kept exactly
    binary: bool = False  # -b y
    script: bytes | None = None  # the script's content for -b n (spooled by the master)
    shell: str | None = None  # -S path
    name: str = ""  # -N (default: basename of command, "STDIN" for stdin)
    job_type: str = "batch"  # batch | qrsh | qrlogin | qlogin
    # --- where and how
    cwd: str | None = None  # working directory (-cwd = submit dir, -wd dir); None = home
    stdout_paths: list[str] = field(default_factory=list)  # -o [host:]path,...
    stderr_paths: list[str] = field(default_factory=list)  # -e
    stdin_path: str | None = None  # -i
    join: bool = False  # -j y
    env: dict[str, str] = field(default_factory=dict)  # -v / -V (values resolved at submit)
    export_all: bool = False  # -V was given
    # --- requests
    hard_resources: dict[str, str] = field(default_factory=dict)  # -l (-hard)
    soft_resources: dict[str, str] = field(default_factory=dict)  # -soft -l
    hard_queues: list[str] = field(default_factory=list)  # -q (wildcards, queue@host)
    soft_queues: list[str] = field(default_factory=list)
    master_queues: list[str] = field(default_factory=list)  # -masterq
    pe: PeRequest | None = None  # -pe
    tasks: TaskRange | None = None  # -t (None: not an array job)
    task_concurrency: int = 0  # -tc (0: unlimited)
    priority: int = 0  # -p, -1023..1024
    hold: bool = False  # -h (user hold)
    hold_jids: list[str] = field(default_factory=list)  # -hold_jid (ids or names, wildcards)
    hold_jids_ad: list[str] = field(default_factory=list)  # -hold_jid_ad: task N waits for task N
    start_time: float | None = None  # -a, epoch seconds
    now: bool = False  # -now y: run at once or refuse
    rerunnable: bool | None = None  # -r y|n (None: queue default)
    # --- bookkeeping
    account: str = "sge"  # -A
    project: str | None = None  # -P
    mail_options: str = "n"  # -m
    mail_list: list[str] = field(default_factory=list)  # -M
    notify: bool = False  # -notify
    pty: bool | None = None  # -pty y|n (interactive)
    noshell: bool = False  # qrsh -noshell: run the command without a shell around it
    submit_env: dict[str, str] = field(default_factory=dict)  # SGE_O_* and the submitter's
    #   HOME, LOGNAME, PATH, SHELL, HOST, WORKDIR (keys without the SGE_O_ prefix: "HOME", ...)
    submit_cwd: str = ""  # directory qsub ran in
    reserve: bool = False  # -R y
    job_share: int = 0  # -js
    ar_id: int | None = None  # -ar: runs only in this advance reservation
    override_tickets: int = 0  # qalter -ot (operators and managers)
    context: dict[str, str] = field(default_factory=dict)  # -ac/-sc/-dc (qstat -j "context")
    checkpoint: str | None = None  # -ckpt name
    checkpoint_when: str | None = None  # -c letters (n s m x r); the interface's "when" if not given
    checkpoint_interval: int = 0  # -c hh:mm:ss (seconds)
    use_shell: bool = True  # -shell n: start a -b y command without a shell
    verify_level: str = "n"  # -w e|w|n|v|p

    # --- client-only options (not stored): kept here so the parser has one output
    sync: bool = False  # -sync y
    terse: bool = False  # -terse
    verify: bool = False  # -verify
    form: str = ""  # --json: the form qsub prints its answer in ("" for Grid Engine's)

    CLIENT_ONLY = ("sync", "terse", "verify", "form")

    def to_wire(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        for key in self.CLIENT_ONLY:
            data.pop(key)
        return data

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> JobSpec:
        """The spec of a map (every field checked: ``ShapeError``; unknown keys dropped)."""
        return from_map(cls, data)

    @property
    def is_array(self) -> bool:
        return self.tasks is not None

    def slots_requested(self) -> int:
        """Slots the job asks for (the PE's minimum, else 1)."""
        return self.pe.min_slots if self.pe else 1
