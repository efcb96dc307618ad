"""qdel: delete jobs and array tasks (Grid Engine's messages; exit 1 if any target failed)."""

from __future__ import annotations

import sys

from qsys.cli.common import run, write
from qsys.errors import UsageError

USAGE = "usage: qdel [-f] [-u user_list] job_task_list"


def parse_targets(program: str, argv: list[str], flags: dict[str, str]) -> tuple[list[str], list[str], dict[str, str]]:
    """Job ids (also comma lists) and -u users; ``flags`` maps option -> value-taking name."""
    targets: list[str] = []
    users: list[str] = []
    seen: dict[str, str] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("-help", "--help"):
            print(USAGE.replace("qdel", program))
            raise SystemExit(0)
        if arg == "-u":
            if i + 1 >= len(argv):
                raise UsageError(f'{program}: option "-u" requires an argument')
            i += 1
            users.extend(u for u in argv[i].split(",") if u)
        elif arg in flags:
            if flags[arg]:
                if i + 1 >= len(argv):
                    raise UsageError(f'{program}: option "{arg}" requires an argument')
                i += 1
                seen[arg] = argv[i]
            else:
                seen[arg] = ""
        elif arg.startswith("-"):
            raise UsageError(f'{program}: invalid option argument "{arg}"')
        else:
            targets.extend(t for t in arg.split(",") if t)
        i += 1
    if not targets and not users:
        raise UsageError(f"{program}: no job id given\n" + USAGE.replace("qdel", program))
    return targets, users, seen


def _body(argv: list[str]) -> int:
    from qsys.client import Client

    targets, users, flags = parse_targets("qdel", argv, {"-f": ""})
    with Client() as client:
        reply = client.job_action("delete", targets, users, force="-f" in flags)
    for line in reply["lines"]:
        write(line)
    return int(reply["exit"])


def main(argv: list[str] | None = None) -> int:
    return run("qdel", _body, argv)


if __name__ == "__main__":
    sys.exit(main())
