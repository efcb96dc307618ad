"""qmod: disable, enable, suspend and resume queue instances and jobs; clear error states;
reschedule running jobs. A thin layer: parse, ask the master, print its lines."""

from __future__ import annotations

import sys

from qsys.cli.common import run
from qsys.cli.engine import HELP, JSON, Handler, Option, OptionTable, parse
from qsys.cli.qdel import print_lines
from qsys.errors import UsageError


class _Request:
    """The operations of one qmod command line (action, targets are jobs: True, queues:
    False, either: None; the targets), in order, -f and the output form (--json)."""

    __slots__ = ("force", "form", "operations")

    def __init__(self) -> None:
        self.operations: list[tuple[str, bool | None, list[str]]] = []
        self.force = False
        self.form = ""


def _operation(action: str, kind: bool | None) -> Handler:
    def handler(state: _Request, name: str, values: list[str]) -> None:
        targets = [target for value in values for target in value.split(",") if target]
        if not targets:
            raise UsageError(f"qmod: {name} option must have argument")
        state.operations.append((action, kind, targets))

    return handler


def _force(state: _Request, name: str, values: list[str]) -> None:
    state.force = True


def _row(synopsis: str, help: str, action: str, kind: bool | None) -> Option:
    return Option(synopsis, help, _operation(action, kind), greedy=True)


QMOD_OPTIONS = OptionTable("qmod", [
    HELP,
    JSON,
    _row("-c job_wc_queue_list", "clear error state of jobs or queue instances", "clear", None),
    _row("-cj job_task_list", "clear error state of jobs", "clear", True),
    _row("-cq wc_queue_list", "clear error state of queue instances", "clear", False),
    _row("-d wc_queue_list", "disable queue instances", "disable", False),
    _row("-e wc_queue_list", "enable queue instances", "enable", False),
    Option("-f", "force action", _force),
    _row("-r job_wc_queue_list", "reschedule jobs (or the jobs running in queue instances)", "reschedule", None),
    _row("-rj job_task_list", "reschedule jobs", "reschedule", True),
    _row("-rq wc_queue_list", "reschedule all jobs in queue instances", "reschedule", False),
    _row("-s wc_queue_list|job_list", "suspend queue instances or jobs", "suspend", None),
    _row("-sj job_task_list", "suspend jobs", "suspend", True),
    _row("-sq wc_queue_list", "suspend queue instances", "suspend", False),
    _row("-us wc_queue_list|job_list", "unsuspend queue instances or jobs", "unsuspend", None),
    _row("-usj job_task_list", "unsuspend jobs", "unsuspend", True),
    _row("-usq wc_queue_list", "unsuspend queue instances", "unsuspend", False),
], usage_on_error=True)


def parse_args(argv: list[str]) -> _Request:
    """The requested operations (action, kind, targets) in order, -f, the output form."""
    request = _Request()
    parse(argv, QMOD_OPTIONS, request)
    if not request.operations:
        raise UsageError(QMOD_OPTIONS.usage().rstrip())
    return request


def _body(argv: list[str]) -> int:
    from qsys.client import Client
    from qsys.protocol import Lines

    request = parse_args(argv)
    replies = []
    with Client() as client:
        for action, kind, targets in request.operations:
            reply = client.queue_action(action, targets, kind, request.force)
            replies.append(reply)
            if request.form != "json":  # each operation's lines as they come
                print_lines(reply, "")
    if request.form != "json":
        return max(r.exit for r in replies)
    # one document for the command line: every operation's lines, the highest exit code
    return print_lines(Lines([line for r in replies for line in r.lines], max(r.exit for r in replies)), "json")


def main(argv: list[str] | None = None) -> int:
    return run("qmod", _body, argv)


if __name__ == "__main__":
    sys.exit(main())
