"""qmod: disable, enable, suspend and resume queue instances and jobs; clear error states;
reschedule running jobs. A thin layer: parse, ask the master, print its lines."""

from __future__ import annotations

import sys

from qsys.cli.common import run, write
from qsys.cli.engine import HELP, Handler, Option, OptionTable, parse
from qsys.errors import UsageError


class _Request:
    """The operations of one qmod command line (action, targets are jobs: True, queues:
    False, either: None; the targets), in order, and -f."""

    __slots__ = ("force", "operations")

    def __init__(self) -> None:
        self.operations: list[tuple[str, bool | None, list[str]]] = []
        self.force = False


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


def parse_args(argv: list[str]) -> tuple[list[tuple[str, bool | None, list[str]]], bool]:
    """The requested operations (action, kind, targets) in order, and -f."""
    request = _Request()
    parse(argv, QMOD_OPTIONS, request)
    if not request.operations:
        raise UsageError(QMOD_OPTIONS.usage().rstrip())
    return request.operations, request.force


def _body(argv: list[str]) -> int:
    from qsys.client import Client

    ops, force = parse_args(argv)
    status = 0
    with Client() as client:
        for action, kind, targets in ops:
            reply = client.queue_action(action, targets, kind, force)
            for line in reply["lines"]:
                write(line)
            status = max(status, int(reply["exit"]))
    return status


def main(argv: list[str] | None = None) -> int:
    return run("qmod", _body, argv)


if __name__ == "__main__":
    sys.exit(main())
