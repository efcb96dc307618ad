"""Where a job's stdout, stderr and stdin go: Grid Engine's path rules.

The exec daemon's shepherd opens the files these rules name; qsys-restd shows them on a job's
page (before the job runs, the host and the array task are not known yet: ``$HOSTNAME`` and
``$TASK_ID`` stay as they are, and an entry for a named host is not chosen). A shared leaf
module: standard library only.

* No -o/-e: ``<job name>.o<job id>`` / ``.e<job id>`` in the working directory;
  array tasks get ``.o<job id>.<task id>``.
* ``-o [host:]path,...``: the entry naming this host wins, else the one without a host.
* Pseudo variables ``$HOME $USER $JOB_ID $JOB_NAME $HOSTNAME $TASK_ID`` are expanded
  (``$TASK_ID`` is ``undefined`` for a job that is not an array job, as Grid Engine does).
* A relative path is taken from the working directory; an existing directory means the
  default name inside it.
* ``-j y``: stderr goes to the stdout file.
* stdin is ``-i``'s path (same rules, no default name) or ``/dev/null``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass

_PSEUDO = re.compile(r"\$(HOME|USER|JOB_ID|JOB_NAME|HOSTNAME|TASK_ID)\b")


UNKNOWN_HOST = "$HOSTNAME"  # the hostname of a task not dispatched yet


@dataclass
class PathContext:
    job_id: int
    task_id: int | None  # None: an array task not known yet
    is_array: bool
    job_name: str
    home: str
    user: str
    hostname: str  # UNKNOWN_HOST before dispatch
    cwd: str
    # whether a path names a directory (the default name goes inside it); qsys-restd, which
    # must not look into other users' directories, gives a check of its own
    is_dir: Callable[[str], bool] = os.path.isdir

    @property
    def task_text(self) -> str:
        if not self.is_array:
            return "undefined"  # as Grid Engine expands $TASK_ID for a job that is not an array
        return "$TASK_ID" if self.task_id is None else str(self.task_id)


@dataclass
class OutputPlan:
    stdout: str
    stderr: str
    stdin: str
    joined: bool


def expand(path: str, ctx: PathContext) -> str:
    values = {
        "HOME": ctx.home,
        "USER": ctx.user,
        "JOB_ID": str(ctx.job_id),
        "JOB_NAME": ctx.job_name,
        "HOSTNAME": ctx.hostname,
        "TASK_ID": ctx.task_text,
    }
    return _PSEUDO.sub(lambda m: values[m.group(1)], path)


def _split_host(entry: str) -> tuple[str | None, str]:
    if entry.startswith("/") or ":" not in entry:
        return None, entry
    host, _, path = entry.partition(":")
    return (host or None), path


def pick(entries: list[str], hostname: str) -> str | None:
    """The path of the entry for ``hostname``, else of the entry without a host."""
    short = hostname.split(".")[0]
    fallback = None
    for entry in entries:
        host, path = _split_host(entry)
        if host is None:
            fallback = path if fallback is None else fallback
        elif hostname != UNKNOWN_HOST and (host == hostname or host.split(".")[0] == short):
            return path
    return fallback


def default_name(ctx: PathContext, kind: str) -> str:
    name = f"{ctx.job_name}.{kind}{ctx.job_id}"
    return f"{name}.{ctx.task_text}" if ctx.is_array else name


def resolve(entries: list[str], kind: str, ctx: PathContext) -> str:
    """The file for stream ``kind`` ("o" or "e")."""
    chosen = pick(entries, ctx.hostname)
    if not chosen:
        return os.path.join(ctx.cwd, default_name(ctx, kind))
    path = expand(chosen, ctx)
    if not os.path.isabs(path):
        path = os.path.join(ctx.cwd, path)
    if ctx.is_dir(path):
        path = os.path.join(path, default_name(ctx, kind))
    return path


def plan(stdout_paths: list[str], stderr_paths: list[str], stdin_path: str | None, join: bool,
         ctx: PathContext) -> OutputPlan:
    out = resolve(stdout_paths, "o", ctx)
    err = out if join else resolve(stderr_paths, "e", ctx)
    stdin = "/dev/null"
    if stdin_path:
        chosen = pick([stdin_path], ctx.hostname)
        if chosen:
            stdin = expand(chosen, ctx)
            if not os.path.isabs(stdin):
                stdin = os.path.join(ctx.cwd, stdin)
    return OutputPlan(out, err, stdin, join)
