"""qalter: change the requests of submitted jobs with qsub's options.

The options are parsed with qsub's table (``qsys.cli.options``) minus what cannot change
after submission; only the JobSpec fields the given options touch travel to the master,
which applies them and answers with Grid Engine's "modified ... of job N" lines.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from qsys.cli.common import run
from qsys.cli.engine import Option, apply, scan
from qsys.cli.options import SUBMIT_OPTIONS, ParseState
from qsys.cli.qdel import print_lines
from qsys.errors import QsysError, UsageError
from qsys.grammar.names import job_name_problem
from qsys.jobspec import JobSpec

# options of qsub that qalter does not take (they describe the submission itself)
_DROPPED = ("-b", "-sync", "-terse", "-verify", "-now", "-t", "-C", "-shell", "-@", "-clear", "-i")

# option -> JobSpec fields it sets ("-l"/"-q" depend on -hard/-soft and are handled apart)
OPTION_FIELDS: dict[str, tuple[str, ...]] = {
    "-A": ("account",), "-M": ("mail_list",), "-N": ("name",), "-P": ("project",),
    "-S": ("shell",), "-a": ("start_time",), "-e": ("stderr_paths",), "-o": ("stdout_paths",),
    "-hold_jid": ("hold_jids",), "-hold_jid_ad": ("hold_jids_ad",), "-j": ("join",),
    "-ckpt": ("checkpoint",), "-c": ("checkpoint_when", "checkpoint_interval"), "-m": ("mail_options",),
    "-masterq": ("master_queues",), "-notify": ("notify",), "-p": ("priority",), "-pe": ("pe",),
    "-pty": ("pty",), "-r": ("rerunnable",), "-tc": ("task_concurrency",), "-v": ("env",),
    "-V": ("env", "export_all"), "-cwd": ("cwd",), "-wd": ("cwd",),
    "-R": ("reserve",), "-js": ("job_share",), "-ar": ("ar_id",), "-ot": ("override_tickets",),
}

class AlterState(ParseState):
    """qalter's parse state: which JobSpec fields the options touched, and its own options."""

    __slots__ = ("holds", "touched", "users", "verify")

    def __init__(self) -> None:
        super().__init__(JobSpec(), program="qalter", environ=os.environ, cwd=os.getcwd())
        self.touched: list[str] = []
        self.users: list[str] = []
        self.verify = ""
        self.holds: str | None = None


def _touching(row: Option) -> Option:
    """The qsub row, recording the fields it sets."""
    def handler(state: AlterState, name: str, values: list[str]) -> None:
        if name in ("-l", "-q"):
            kind = "resources" if name == "-l" else "queues"
            state.touched.append(("soft_" if state.soft else "hard_") + kind)
        else:
            state.touched.extend(OPTION_FIELDS.get(name, ()))
        row.handler(state, name, values)

    return Option(row.synopsis, row.help, handler)


def _users(state: AlterState, name: str, values: list[str]) -> None:
    state.users.extend(user for user in values[0].split(",") if user)


def _verify(state: AlterState, name: str, values: list[str]) -> None:
    if values[0] not in ("e", "w", "n", "v", "p"):
        raise UsageError(f'qalter: invalid value "{values[0]}" for option -w: expected e, w, n, v or p')
    state.verify = values[0]


def _override_tickets(state: AlterState, name: str, values: list[str]) -> None:
    if not values[0].isdigit():
        raise UsageError(f'qalter: invalid value "{values[0]}" for option -ot: expected a number of tickets')
    state.spec.override_tickets = int(values[0])
    state.touched.append("override_tickets")


def _holds(state: AlterState, name: str, values: list[str]) -> None:
    if not values[0] or any(c not in "uosnUOS" for c in values[0]):
        raise UsageError(f'qalter: invalid hold list "{values[0]}"')
    state.holds = values[0]


_KEPT = SUBMIT_OPTIONS.derive(drop=_DROPPED)
ALTER_OPTIONS = _KEPT.derive("qalter", operands="job_task_list | -u user_list", add=[
    *(_touching(row) for row in _KEPT.rows if row.name != "-help"),
    Option("-h hold_list", "set holds u o s, remove them U O S, or all n", _holds),
    Option("-u user_list", "the jobs of these users", _users),
    Option("-ot override_tickets", "set the job's override tickets (operators and managers)", _override_tickets),
    Option("-w e|w|n|v|p", "how to verify the changed job (v: could it ever run, p: could it run now)", _verify),
])


def parse_args(argv: list[str]) -> tuple[list[str], dict[str, Any], list[str], str, str]:
    """(job targets, changed JobSpec fields in wire form, -u users, -w level, output form)."""
    if not argv:
        raise QsysError(ALTER_OPTIONS.usage().rstrip())
    state = AlterState()
    actions, rest = scan(argv, ALTER_OPTIONS, cwd=state.cwd)
    apply(actions, state)
    targets = [t for word in rest for t in word.split(",") if t]
    if not targets and not state.users:
        raise UsageError("qalter: ERROR! no job_task_list or -u user_list given")
    return targets, changes_of(state), state.users, state.verify, state.form


def changes_of(state: AlterState) -> dict[str, Any]:
    """What qalter asks the master to change, from the options applied to ``state``: the
    JobSpec fields they touched in wire form, and ``_holds`` for -h (qsys-restd's PATCH of a
    job asks the same way)."""
    if "name" in state.touched and job_name_problem(state.spec.name):
        raise QsysError(str(job_name_problem(state.spec.name)))
    wire = state.spec.to_wire()
    changes = {name: wire[name] for name in dict.fromkeys(state.touched)}
    if state.holds is not None:
        changes["_holds"] = state.holds
    if not changes and state.verify not in ("v", "p"):
        raise UsageError("qalter: no option that changes a job was given")
    return changes


def _body(argv: list[str]) -> int:
    from qsys.client import Client

    targets, changes, users, verify, form = parse_args(argv)
    with Client() as client:
        reply = client.alter(targets, changes, users, verify)
    return print_lines(reply, form)


def main(argv: list[str] | None = None) -> int:
    return run("qalter", _body, argv)


if __name__ == "__main__":
    sys.exit(main())
