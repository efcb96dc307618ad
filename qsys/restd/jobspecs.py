"""Jobs from REST requests, built by qsub's own option engine (``qsys.cli.options``).

A submission carries qsub's option words, and either the script's text (``#$`` directives
apply as in qsub) or a command for ``-b y``. restd never reads a file for the caller: not
the script from a path, not ``-@`` option files, not ``~/.sge_request`` (restd may run as
root, and an error message could show a file the caller cannot read). The cell's
``sge_request`` (the administrator's defaults) applies as for qsub. ``-V`` and ``-v NAME``
take values from the ``environment`` the request sends, never from restd's own.

qalter's changes come from qalter's own table, state and ``changes_of`` (``qsys.cli.qalter``):
the JobSpec fields its options touch. ``-u`` is not taken: the URL names the job.
"""

from __future__ import annotations

import io
import os
import pwd
import socket
from collections.abc import Mapping, Sequence
from typing import Any

from qsys.cli.engine import OptionTable, apply, scan
from qsys.cli.options import SUBMIT_OPTIONS, parse_submit_args
from qsys.cli.qalter import ALTER_OPTIONS, AlterState, changes_of
from qsys.errors import UsageError
from qsys.jobspec import JobSpec
from qsys.paths import Cell

# restd refuses -@ (it would read a file as restd), -sync and -verify (the REST answer comes
# at once: poll the job), -terse, --json and -help (the answer is JSON, nothing is printed);
# qalter's -u (the URL names the job)
SUBMIT_TABLE = SUBMIT_OPTIONS.derive(drop=("-@", "-sync", "-verify", "-terse", "--json", "-help"))
ALTER_TABLE = ALTER_OPTIONS.derive(drop=("-u", "--json", "-help"))


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


def _refuse_unknown(words: Sequence[str], table: OptionTable, program: str) -> list[str]:
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


def alter_changes(uid: int, options: Sequence[str], cwd: str | None,
                  environment: Mapping[str, str]) -> tuple[dict[str, Any], str]:
    """(the JobSpec fields in wire form these qalter options change, qalter's -w level)."""
    state = AlterState()
    state.cwd = cwd or pwd.getpwuid(uid).pw_dir
    state.environ = dict(environment)  # -V and -v NAME: the request's values, never restd's
    actions, rest = scan(list(options), ALTER_TABLE, cwd=state.cwd)
    if rest:
        raise UsageError(f'qalter: invalid option argument "{rest[0]}" (the job is named by the URL)')
    apply(actions, state)
    return changes_of(state), state.verify
