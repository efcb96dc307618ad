"""qsub: submit a batch job (Grid Engine's options, messages and exit codes)."""

from __future__ import annotations

import sys

from qsys.cli.common import run, write
from qsys.errors import ConnectionFailed, NotSchedulable, QsysError


def _body(argv: list[str]) -> int:
    from qsys.cli import formats
    from qsys.cli.options import parse_submit_args
    from qsys.client import Client

    spec = parse_submit_args(argv, program="qsub")
    with Client() as client:
        try:
            result = client.submit(spec)
        except NotSchedulable as exc:
            print(exc.message, file=sys.stderr)
            return 1
        except ConnectionFailed:
            raise
        except QsysError as exc:
            print(f"Unable to run job: {exc.message}\nExiting.", file=sys.stderr)
            return 1
        from qsys.jobspec import TaskRange

        tasks = TaskRange(*result["tasks"]) if result.get("tasks") else None
        if spec.terse:
            write(formats.terse_message(result["job_id"], tasks))
        else:
            write(formats.submitted_message(result["job_id"], result["name"], tasks))
        sys.stdout.flush()
        if not spec.sync:
            return 0
        reports = client.wait([result["job_id"]])
    status = 0
    for report in sorted(reports, key=lambda r: r.get("task_id", 0)):
        write(formats.sync_exit_message(report))
        status = status or formats.sync_exit_code(report)
    return status


def main(argv: list[str] | None = None) -> int:
    return run("qsub", _body, argv)


if __name__ == "__main__":
    sys.exit(main())
