"""The environment of a batch job, as Grid Engine's shepherd builds it.

Order of precedence (as in Grid Engine): the job's ``-V``/``-v`` variables come first; the
variables Grid Engine defines (JOB_ID, HOME, TMPDIR, SGE_*, ...) then overwrite them, with one
exception: ``PATH`` from ``-V``/``-v`` is kept, since users rely on ``qsub -V`` to carry their
PATH into the job. Without it PATH is the directory of the qsys commands (SGE_BINARY_PATH:
the exec host's ``$QSYS_ROOT/bin/<arch>``, links to its commands only), then
``/usr/local/bin:/usr/bin:/bin``. Either way the job's TMPDIR comes first, as Grid Engine puts
it (a PE's ``startmpi.sh -catch_rsh`` links its rsh wrapper there). A login shell's profile
resets PATH; the shell is told to put TMPDIR and the commands' directory first again after its
profile and before the script (``login_shell_argv``), so a job's ``qsub`` is this cluster's
(never another Grid Engine's ``/usr/bin/qsub``), whatever the profile says. ``QSYS_ROOT`` and
``QSYS_CELL`` (qsys's additions) name the exec host's cell, so the job's commands find it.
Nothing of the exec daemon's own environment leaks in (except ``TERM``, present and empty in
Grid Engine's jobs too).
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass

from qsys.launch import Launch

DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
BOURNE_SHELLS = frozenset({"sh", "bash", "dash", "ash", "ksh", "mksh", "zsh"})
CSH_SHELLS = frozenset({"csh", "tcsh"})


@dataclass
class JobFacts:
    """What the shepherd decided before building the environment."""

    user: str
    home: str
    cwd: str
    tmpdir: str
    task_dir: str
    job_script: str
    job_name: str
    shell: str
    stdout: str
    stderr: str
    stdin: str
    pe_hostfile: str | None = None
    qsys_root: str = ""  # the exec host's own (its daemon's), else the Launch's
    cell: str = ""
    binary_path: str = ""


def commands_path(launch: Launch, facts: JobFacts) -> str:
    return facts.binary_path or launch.binary_path


def job_name(launch: Launch) -> str:
    spec = launch.spec
    name = spec.get("name") or ""
    if name:
        return str(name)
    command = str(spec.get("command") or "STDIN")
    return os.path.basename(command) or "STDIN"


def path_prefix(launch: Launch, facts: JobFacts, login_shell: bool = False) -> list[str]:
    """What comes before the job's own PATH: TMPDIR, then the commands' directory (so qsys's
    qrsh/qsub win over any other Grid Engine's) unless the job brought a PATH of its own --
    but always for a login shell, whose profile sets PATH anew (the shell puts this prefix
    back in front after its profile)."""
    user_path = (launch.spec.get("env") or {}).get("PATH")
    binary_path = commands_path(launch, facts)
    dirs = [facts.tmpdir] if facts.tmpdir else []
    if binary_path and (login_shell or (not user_path and binary_path not in DEFAULT_PATH.split(":"))):
        dirs.append(binary_path)
    return dirs


def build(launch: Launch, facts: JobFacts, login_shell: bool = False) -> dict[str, str]:
    spec = launch.spec
    env: dict[str, str] = {str(k): str(v) for k, v in (spec.get("env") or {}).items()}
    path = ":".join([*path_prefix(launch, facts, login_shell), env.get("PATH") or DEFAULT_PATH])
    binary_path = commands_path(launch, facts)
    hosts = {h.host for h in launch.hosts} or {launch.host}
    queues = {h.queue for h in launch.hosts} or {f"{launch.queue}@{launch.host}"}
    tasks = spec.get("tasks")
    ours: dict[str, str] = {
        "ARC": launch.arch,
        "ENVIRONMENT": "BATCH",
        "HOME": facts.home,
        "HOSTNAME": launch.host,
        "JOB_ID": str(launch.job_id),
        "JOB_NAME": facts.job_name,
        "JOB_SCRIPT": facts.job_script,
        "LOGNAME": facts.user,
        "NHOSTS": str(len(hosts)),
        "NQUEUES": str(len(queues)),
        "NSLOTS": str(launch.total_slots),
        "PATH": path,
        "PWD": facts.cwd,
        "QSYS_CELL": facts.cell or launch.cell,
        "QSYS_ROOT": facts.qsys_root or launch.qsys_root,
        "QUEUE": launch.queue,
        "REQNAME": facts.job_name,
        "REQUEST": facts.job_name,
        "RESTARTED": str(launch.restarted),
        "SGE_ACCOUNT": str(spec.get("account") or "sge"),
        "SGE_ARCH": launch.arch,
        "SGE_BINARY_PATH": binary_path,
        "SGE_CELL": facts.cell or launch.cell,
        "SGE_CWD_PATH": facts.cwd,
        "SGE_JOB_SPOOL_DIR": facts.task_dir,
        "SGE_ROOT": facts.qsys_root or launch.qsys_root,
        "SGE_STDERR_PATH": facts.stderr,
        "SGE_STDIN_PATH": facts.stdin,
        "SGE_STDOUT_PATH": facts.stdout,
        "SHELL": facts.shell,
        "TERM": "",
        "TMP": facts.tmpdir,
        "TMPDIR": facts.tmpdir,
        "USER": facts.user,
    }
    if launch.is_array and tasks:
        ours.update({
            "SGE_TASK_ID": str(launch.task_id),
            "SGE_TASK_FIRST": str(tasks["first"]),
            "SGE_TASK_LAST": str(tasks["last"]),
            "SGE_TASK_STEPSIZE": str(tasks["step"]),
        })
    else:
        for key in ("SGE_TASK_ID", "SGE_TASK_FIRST", "SGE_TASK_LAST", "SGE_TASK_STEPSIZE"):
            ours[key] = "undefined"
    for key, value in (spec.get("submit_env") or {}).items():
        ours[f"SGE_O_{key}"] = str(value)
    if launch.checkpoint:  # what Grid Engine tells a checkpointing job
        ours["SGE_CKPT_ENV"] = str(launch.checkpoint.get("name", ""))
        ours["SGE_CKPT_DIR"] = str(launch.checkpoint.get("ckpt_dir", ""))
    if launch.pe and facts.pe_hostfile:
        ours["PE"] = launch.pe
        ours["PE_HOSTFILE"] = facts.pe_hostfile
    ours.update(device_variables(launch.devices))
    env.update(ours)
    return env


def device_variables(devices: dict[str, list[str]]) -> dict[str, str]:
    """The resource map ids granted on this host: ``SGE_HGR_<name>`` (ids separated by
    blanks) for every map, ``CUDA_VISIBLE_DEVICES`` (by commas) for the one named ``gpu``."""
    out = {f"SGE_HGR_{name}": " ".join(ids) for name, ids in devices.items()}
    if "gpu" in devices:
        out["CUDA_VISIBLE_DEVICES"] = ",".join(devices["gpu"])
    return out


def login_shell_argv(argv0: str, prefix: str, script: str, args: list[str]) -> list[str] | None:
    """How a login shell (``argv0`` is ``-name``) runs a script with ``prefix`` (TMPDIR and the
    commands' directory) first in PATH although its profile has set PATH anew: the shell itself,
    after its profile, prepends it and reads the script (``$0`` and the arguments as when it
    runs the script). None for a shell of neither family, which then runs the script as it is.
    In the csh family ``$0`` is the shell's name."""
    base = argv0.lstrip("-")
    first = shlex.quote(prefix)
    if base in BOURNE_SHELLS:
        return [argv0, "-c", f'PATH={first}:"${{PATH#{first}:}}"; export PATH; . "$0"', script, *args]
    if base in CSH_SHELLS:
        command = (f'set _qsys_script = "$argv[1]"; shift; '
                   f'if ("$PATH" !~ {first}:*) setenv PATH {first}:"$PATH"; source "$_qsys_script" $argv:q')
        return [argv0, "-c", command, script, *args]
    return None
