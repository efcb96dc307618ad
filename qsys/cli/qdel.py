"""qdel: delete jobs and array tasks (Grid Engine's messages; exit 1 if any target failed)."""

from __future__ import annotations

import sys

from qsys.cli.common import run, write
from qsys.cli.engine import HELP, JSON, Option, OptionTable, apply, scan
from qsys.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs a command milliseconds at run time
    from qsys.protocol import Lines


class Targets:
    """The jobs a qdel/qhold/qrls command line names: ids (also comma lists), -u users,
    the command's own options (-f, -h) and its output form (--json)."""

    __slots__ = ("flags", "form", "jobs", "users")

    def __init__(self) -> None:
        self.jobs: list[str] = []
        self.users: list[str] = []
        self.flags: dict[str, str] = {}
        self.form = ""


def _users(state: Targets, name: str, values: list[str]) -> None:
    state.users.extend(user for user in values[0].split(",") if user)


def flag(state: Targets, name: str, values: list[str]) -> None:
    """An option of the command itself: its value (or "" for a flag) under its name."""
    state.flags[name] = values[0] if values else ""


QDEL_OPTIONS = OptionTable("qdel", [
    HELP,
    JSON,
    Option("-f", "forget running jobs even if their host does not answer", flag),
    Option("-u user_list", "the jobs of these users (* for all)", _users),
], "job_task_list", interleaved=True)


def parse_targets(argv: list[str], table: OptionTable) -> Targets:
    """The targets of a command line; a job id or a -u list is required."""
    state = Targets()
    actions, operands = scan(argv, table)
    apply(actions, state)
    state.jobs = [job for word in operands for job in word.split(",") if job]
    if not state.jobs and not state.users:
        raise UsageError(f"{table.program}: no job id given\n{table.usage().rstrip()}")
    return state


def print_lines(reply: Lines, form: str) -> int:
    """What qdel, qhold, qrls, qmod and qalter print: the master's lines, or with --json the
    reply itself ({lines, exit}); the reply's exit code."""
    if form == "json":
        from qsys.cli.jsonout import print_json

        print_json(reply)
    else:
        for line in reply.lines:
            write(line)
    return reply.exit


def _body(argv: list[str]) -> int:
    from qsys.client import Client

    targets = parse_targets(argv, QDEL_OPTIONS)
    with Client() as client:
        reply = client.job_action("delete", targets.jobs, targets.users, force="-f" in targets.flags)
    return print_lines(reply, targets.form)


def main(argv: list[str] | None = None) -> int:
    return run("qdel", _body, argv)


if __name__ == "__main__":
    sys.exit(main())
