"""Everything an exec daemon needs to start one task: built by the master, sent in
:class:`qsys.protocol.StartJob`, written by the exec daemon to ``job.json`` in the task's
spool directory and read by the shepherd. Numbers are resolved (seconds, bytes) so the exec
side needs no grammar.
"""

from __future__ import annotations

from qsys import record as dataclasses
from qsys.record import dataclass, field, from_map

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs a command milliseconds at run time
    from typing import Any


@dataclass
class PeHostEntry:
    """One line of ``$PE_HOSTFILE``: host, slots, queue instance, processor range."""

    host: str
    slots: int
    queue: str  # "all.q@host"
    processors: str = "UNDEFINED"


@dataclass
class Launch:
    job_id: int
    task_id: int  # 1 for a job that is not an array job
    is_array: bool
    spec: dict[str, Any]  # JobSpec.to_wire() (script bytes included for -b n)
    owner: str
    uid: int
    group: str
    gid: int
    queue: str  # cluster queue name, e.g. "all.q"
    host: str  # exec host name as registered
    slots: int  # slots on this host
    total_slots: int  # NSLOTS: all slots of the job
    hosts: list[PeHostEntry] = field(default_factory=list)  # PE_HOSTFILE (parallel jobs)
    pe: str | None = None  # granted PE name
    restarted: int = 0
    submit_time: float = 0.0
    # limits from the job's -l and the queue (seconds / bytes; None = unlimited)
    h_rt: float | None = None
    s_rt: float | None = None
    h_cpu: float | None = None
    s_cpu: float | None = None
    h_vmem: int | None = None
    s_vmem: int | None = None
    # queue and host configuration that shapes the start
    tmpdir_base: str = "/tmp"
    shell: str = "/bin/sh"  # queue's default shell
    shell_start_mode: str = "posix_compliant"  # posix_compliant | unix_behavior | script_from_stdin
    login_shells: list[str] = field(default_factory=lambda: ["sh", "bash", "ksh", "csh", "tcsh"])
    prolog: str = ""
    epilog: str = ""
    extra_gid: int | None = None  # tight integration: the job's additional group ID
    cell: str = "default"
    qsys_root: str = ""
    binary_path: str = ""  # directory of the qsys commands, for SGE_BINARY_PATH and PATH
    arch: str = "lx-amd64"
    # parallel environments: the PE's start/stop procedures (run by the master task's shepherd)
    pe_start: str = ""
    pe_stop: str = ""
    control_slaves: bool = False
    job_is_first_task: bool = True  # the PE's: the master task uses one of its host's slots
    pe_task_id: str = ""  # "1.node2" for a task started with qrsh -inherit
    pe_token: str = ""  # what qrsh -inherit presents to the exec daemons of the job's hosts
    pe_addrs: dict[str, list[Any]] = field(default_factory=dict)  # host -> [[address, ...], port]
    # resource map (RSMAP) ids granted on this host: SGE_HGR_<name>, and CUDA_VISIBLE_DEVICES
    # for the map named "gpu"
    devices: dict[str, list[str]] = field(default_factory=dict)
    # interactive jobs (qrsh/qrlogin/qlogin): {method, daemon, token, grant, command_shell}
    # (see qsys.master.sessions); None for batch jobs
    session: dict[str, Any] | None = None
    # checkpointing jobs (-ckpt): the interface's name, interface, commands, ckpt_dir, signal,
    # when (the job's -c letters) and interval (seconds between checkpoints, 0: none)
    checkpoint: dict[str, Any] | None = None

    def to_wire(self) -> dict[str, Any]:
        """The launch as a map. Its values are shared, not copied: the spec map alone holds
        ~300 values and is made for this launch (copying it was a third of a dispatch)."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["hosts"] = [dataclasses.asdict(h) for h in self.hosts]
        return data

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Launch:
        """The Launch of a map (every field checked: ``ShapeError``; unknown keys dropped)."""
        return from_map(cls, data)

    @property
    def task_key(self) -> str:
        """``<job>.<task>``: the spool directory's name and TMPDIR's prefix."""
        return f"{self.job_id}.{self.task_id}"
