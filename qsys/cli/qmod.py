"""qmod: disable, enable, suspend and resume queue instances and jobs; clear error states;
reschedule running jobs. A thin layer: parse, ask the master, print its lines."""

from __future__ import annotations

import sys

from qsys.cli.common import run, write
from qsys.errors import UsageError

USAGE = """usage: qmod [options] [wc_queue_list|job_task_list]
   [-c|-cj job_task_list]      clear error state of jobs
   [-cq wc_queue_list]         clear error state of queue instances
   [-d wc_queue_list]          disable queue instances
   [-e wc_queue_list]          enable queue instances
   [-f]                        force action
   [-help]                     print this help
   [-r|-rj job_task_list]      reschedule jobs
   [-rq wc_queue_list]         reschedule all jobs in queue instances
   [-s wc_queue_list|job_list] suspend queue instances or jobs
   [-sj job_task_list]         suspend jobs
   [-sq wc_queue_list]         suspend queue instances
   [-us wc_queue_list|job_list] unsuspend queue instances or jobs
   [-usj job_task_list]        unsuspend jobs
   [-usq wc_queue_list]        unsuspend queue instances
"""

# option -> (action, targets are jobs: True, queues: False, either: None)
_OPTIONS: dict[str, tuple[str, bool | None]] = {
    "-c": ("clear", True),
    "-cj": ("clear", True),
    "-cq": ("clear", False),
    "-d": ("disable", False),
    "-e": ("enable", False),
    "-r": ("reschedule", True),
    "-rj": ("reschedule", True),
    "-rq": ("reschedule", False),
    "-s": ("suspend", None),
    "-sj": ("suspend", True),
    "-sq": ("suspend", False),
    "-us": ("unsuspend", None),
    "-usj": ("unsuspend", True),
    "-usq": ("unsuspend", False),
}


def parse_args(argv: list[str]) -> tuple[list[tuple[str, bool | None, list[str]]], bool]:
    """The requested operations (action, kind, targets) in order, and -f."""
    ops: list[tuple[str, bool | None, list[str]]] = []
    force = False
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("-help", "--help"):
            sys.stdout.write(USAGE)
            raise SystemExit(0)
        if arg == "-f":
            force = True
        elif arg in _OPTIONS:
            action, kind = _OPTIONS[arg]
            targets: list[str] = []
            while i + 1 < len(argv) and not argv[i + 1].startswith("-"):
                i += 1
                targets.extend(t for t in argv[i].split(",") if t)
            if not targets:
                raise UsageError(f"qmod: ERROR! {arg} option must have argument")
            ops.append((action, kind, targets))
        else:
            raise UsageError(f'qmod: invalid option argument "{arg}"\n{USAGE}'.rstrip("\n"))
        i += 1
    if not ops:
        raise UsageError(USAGE.rstrip("\n"))
    return ops, force


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
