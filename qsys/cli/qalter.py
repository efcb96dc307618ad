"""qalter: change the requests of submitted jobs with qsub's options.

The options are parsed with qsub's table (``qsys.cli.options``) minus what cannot change
after submission; only the JobSpec fields the given options touch travel to the master,
which applies them and answers with Grid Engine's "modified ... of job N" lines.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from qsys.cli.common import run, write
from qsys.errors import UsageError

# options of qsub that qalter does not take (they describe the submission itself)
_DROPPED = ("-b", "-sync", "-terse", "-verify", "-now", "-t", "-C", "-shell", "-@", "-clear", "-i")

# option -> JobSpec fields it sets ("-l"/"-q" depend on -hard/-soft and are handled apart)
OPTION_FIELDS: dict[str, tuple[str, ...]] = {
    "-A": ("account",), "-M": ("mail_list",), "-N": ("name",), "-P": ("project",),
    "-S": ("shell",), "-a": ("start_time",), "-e": ("stderr_paths",), "-o": ("stdout_paths",),
    "-hold_jid": ("hold_jids",), "-j": ("join",), "-m": ("mail_options",),
    "-masterq": ("master_queues",), "-notify": ("notify",), "-p": ("priority",), "-pe": ("pe",),
    "-pty": ("pty",), "-r": ("rerunnable",), "-tc": ("task_concurrency",), "-v": ("env",),
    "-V": ("env", "export_all"), "-cwd": ("cwd",), "-wd": ("cwd",),
}

USAGE = """usage: qalter [options] job_task_list | -u user_list
   options are those of qsub that may change after submission:
   [-a date_time] [-A account] [-cwd] [-e path] [-h hold_list] [-hold_jid job_list]
   [-j y|n] [-l resource_list] [-m mail_options] [-M mail_list] [-masterq queues]
   [-N name] [-notify] [-o path] [-p priority] [-P project] [-pe pe_name slot_range]
   [-q queue_list] [-r y|n] [-S shell] [-soft] [-hard] [-tc max_running]
   [-u user_list] [-v variable_list] [-V] [-w e|w|n|v] [-wd dir]
"""


def _table() -> dict[str, Any]:
    from qsys.cli.options import SUBMIT_OPTIONS, Option

    table = {k: v for k, v in SUBMIT_OPTIONS.items() if k not in _DROPPED}
    keep = table["-R"].handler  # stores the raw value in state.extra

    table["-h"] = Option(1, keep)
    table["-u"] = Option(1, keep)
    table["-w"] = Option(1, keep)
    return table


def parse_args(argv: list[str]) -> tuple[list[str], dict[str, Any], list[str], str]:
    """(job targets, changed JobSpec fields in wire form, -u users, -w level)."""
    from qsys.cli.options import ParseState, scan
    from qsys.jobspec import JobSpec

    if not argv or argv[0] in ("-help", "--help"):
        sys.stdout.write(USAGE)
        raise SystemExit(0 if argv else 1)
    table = _table()
    actions, rest = scan(argv, table, program="qalter", cwd=os.getcwd())
    state = ParseState(JobSpec(), program="qalter", environ=os.environ, cwd=os.getcwd())
    touched: list[str] = []
    users: list[str] = []
    verify = ""
    holds: str | None = None
    for action in actions:
        name = action.name
        if name == "-u":
            users.extend(u for u in action.values[0].split(",") if u)
            continue
        if name == "-w":
            verify = action.values[0]
            if verify not in ("e", "w", "n", "v"):
                raise UsageError(f'qalter: invalid value "{verify}" for option -w: expected e, w, n or v')
            continue
        if name == "-h":
            holds = action.values[0]
            if not holds or any(c not in "uosnUOS" for c in holds):
                raise UsageError(f'qalter: invalid hold list "{holds}"')
            continue
        if name in ("-l", "-q"):
            field = ("soft_" if state.soft else "hard_") + ("resources" if name == "-l" else "queues")
            touched.append(field)
        else:
            touched.extend(OPTION_FIELDS.get(name, ()))
        action.option.handler(state, name, action.values)
    targets = [t for word in rest for t in word.split(",") if t]
    if not targets and not users:
        raise UsageError("qalter: ERROR! no job_task_list or -u user_list given")
    wire = state.spec.to_wire()
    changes = {name: wire[name] for name in dict.fromkeys(touched)}
    if holds is not None:
        changes["_holds"] = holds
    if not changes and verify != "v":
        raise UsageError("qalter: no option that changes a job was given")
    return targets, changes, users, verify


def _body(argv: list[str]) -> int:
    from qsys.client import Client

    targets, changes, users, verify = parse_args(argv)
    with Client() as client:
        reply = client.alter(targets, changes, users, verify)
    for line in reply["lines"]:
        write(line)
    return int(reply["exit"])


def main(argv: list[str] | None = None) -> int:
    return run("qalter", _body, argv)


if __name__ == "__main__":
    sys.exit(main())
