"""Jobs from REST requests, built by qsub's own option engine (``qsys.cli.options``).

A submission carries qsub's option words, and either the script's text (``#$`` directives
apply as in qsub) or a command for ``-b y``. restd never reads a file for the caller: not
the script from a path, not ``-@`` option files, not ``~/.sge_request`` (restd may run as
root, and an error message could show a file the caller cannot read). The cell's
``sge_request`` (the administrator's defaults) applies as for qsub. ``-V`` and ``-v NAME``
take values from the ``environment`` the request sends, never from restd's own.

qalter's changes are the JobSpec fields its options touch, found by applying them to a spec
that records which fields the option handlers reach.
"""

from __future__ import annotations

import io
import os
import pwd
import socket
from collections.abc import Mapping, Sequence
from typing import Any

from qsys.cli.options import SUBMIT_OPTIONS, ParseState, apply, parse_submit_args, scan
from qsys.errors import UsageError
from qsys.jobspec import JobSpec
from qsys.paths import Cell

# options restd refuses on submission: they read files as restd, or ask qsub itself to wait
# or only check (the REST answer comes at once; poll the job instead)
_NOT_ON_SUBMIT = ("-@", "-sync", "-verify", "-terse", "-help")
# qsub options that describe the submission itself, so qalter does not take them
_NOT_ON_ALTER = ("-@", "-b", "-sync", "-terse", "-verify", "-now", "-t", "-C", "-shell", "-clear", "-i",
                 "-h", "-help")

SUBMIT_TABLE = {name: option for name, option in SUBMIT_OPTIONS.items() if name not in _NOT_ON_SUBMIT}
ALTER_TABLE = {name: option for name, option in SUBMIT_OPTIONS.items() if name not in _NOT_ON_ALTER}


def caller_environment(uid: int, environment: Mapping[str, str], cwd: str) -> dict[str, str]:
    """SGE_O_* of a job submitted through restd: the caller's account, not restd's."""
    entry = pwd.getpwuid(uid)
    return {
        "HOME": entry.pw_dir,
        "LOGNAME": entry.pw_name,
        "PATH": environment.get("PATH") or "/usr/local/bin:/usr/bin:/bin",
        "SHELL": entry.pw_shell or "/bin/sh",
        "WORKDIR": cwd,
        "HOST": socket.gethostname().split(".")[0],
    }


def _refuse_unknown(words: Sequence[str], table: Mapping[str, Any], program: str) -> list[str]:
    """The command words after the options; an option outside ``table`` is a UsageError
    before anything is read (``scan`` expands ``-@`` only when the table has it)."""
    _actions, rest = scan(list(words), table, program=program, cwd="/")
    return rest


def build_submission(uid: int, options: Sequence[str], script: str | None, command: Sequence[str],
                     script_name: str, args: Sequence[str], cwd: str | None,
                     environment: Mapping[str, str], cell: Cell) -> JobSpec:
    """The JobSpec qsub would build for the caller from these parts."""
    home = pwd.getpwuid(uid).pw_dir
    where = cwd or home
    if not os.path.isabs(where):
        raise UsageError(f'qsub: the working directory "{where}" must be an absolute path')
    rest = _refuse_unknown(options, SUBMIT_TABLE, "qsub")
    if rest:
        raise UsageError(f'qsub: "{rest[0]}": give a binary command in "command" and a script in "script"')
    if script is not None and command:
        raise UsageError('qsub: give either "script" or "command", not both')
    if script is None and not command:
        raise UsageError('qsub: no job given: send "script" (its text) or "command" (run with -b y)')
    argv = [*options, "-b", "y", *command] if command else list(options)
    env = {"HOME": home, **environment}
    spec = parse_submit_args(argv, program="qsub", environ=env, cwd=where,
                             stdin=io.BytesIO((script or "").encode()), table=SUBMIT_TABLE,
                             request_files=[str(cell.sge_request_file)])
    if script is not None:
        spec.command = script_name or "STDIN"
        spec.args = list(args)
        if spec.name == "STDIN" and script_name:
            spec.name = os.path.basename(script_name)
    elif args:
        raise UsageError('qsub: "args" go with a script; a command\'s arguments follow it in "command"')
    spec.submit_env = caller_environment(uid, env, where)
    return spec


class _TouchedSpec(JobSpec):
    """A JobSpec that remembers which fields option handlers set or reached into."""

    def __init__(self) -> None:
        super().__init__()
        object.__setattr__(self, "touched", [])

    def __setattr__(self, name: str, value: Any) -> None:
        if hasattr(self, "touched") and name not in self.touched:
            self.touched.append(name)
        object.__setattr__(self, name, value)

    def __getattribute__(self, name: str) -> Any:
        value = object.__getattribute__(self, name)
        if isinstance(value, list | dict) and name != "touched":
            touched = object.__getattribute__(self, "__dict__").get("touched")
            if touched is not None and name not in touched:
                touched.append(name)
        return value


def alter_changes(uid: int, options: Sequence[str], cwd: str | None,
                  environment: Mapping[str, str]) -> dict[str, Any]:
    """The JobSpec fields (wire form) that these qalter options change."""
    where = cwd or pwd.getpwuid(uid).pw_dir
    actions, rest = scan(list(options), ALTER_TABLE, program="qalter", cwd=where)
    if rest:
        raise UsageError(f'qalter: invalid option argument "{rest[0]}" (the job is named by the URL)')
    if not actions:
        raise UsageError("qalter: no option that changes a job was given")
    spec = _TouchedSpec()
    apply(actions, ParseState(spec, program="qalter", environ=dict(environment), cwd=where))
    touched = list(spec.touched)  # before to_wire, which reads every field
    wire = spec.to_wire()
    return {name: wire[name] for name in touched if name in wire}
