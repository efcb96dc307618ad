"""qsub: submit a batch job (Grid Engine's options, messages and exit codes)."""

from __future__ import annotations

import sys

from qsys.cli.common import run, write
from qsys.cli.jsonout import print_json
from qsys.errors import ConnectionFailed, NotSchedulable, QsysError, Verified


def _body(argv: list[str]) -> int:
    from qsys.cli import formats
    from qsys.cli.options import parse_submit_args
    from qsys.client import Client

    spec = parse_submit_args(argv, program="qsub")
    if spec.verify:  # -verify: show the would-be job, submit nothing
        write(formats.verify_listing(spec, spec.submit_env.get("LOGNAME", "")))
        return 0
    with Client() as client:
        try:
            result = client.submit(spec)
        except NotSchedulable as exc:
            print(exc.message, file=sys.stderr)
            return 1
        except Verified as exc:  # -w v|p: it could run, and was not submitted
            write(exc.message)
            return 0
        except ConnectionFailed:
            raise
        except QsysError as exc:
            print(f"Unable to run job: {exc.message}\nExiting.", file=sys.stderr)
            return 1
        from qsys.jobspec import TaskRange

        tasks = TaskRange(*result.tasks) if result.tasks else None
        if spec.form == "json":
            if not spec.sync:
                return print_json(result)
        elif spec.terse:  # Grid Engine's -terse leaves out -w w's warning
            write(formats.terse_message(result.job_id, tasks))
        else:
            for warning in result.warnings:
                write(warning)
            write(formats.submitted_message(result.job_id, result.name, tasks))
        sys.stdout.flush()
        if not spec.sync:
            return 0
        reports = sorted(client.wait([result.job_id]), key=lambda r: r.task_id)
    status = 0
    for report in reports:
        status = status or formats.sync_exit_code(report)
        if spec.form != "json":
            write(formats.sync_exit_message(report))
    if spec.form == "json":  # one document: the job and how its tasks ended
        result.ends = reports
        print_json(result)
    return status


def main(argv: list[str] | None = None) -> int:
    return run("qsub", _body, argv)


if __name__ == "__main__":
    sys.exit(main())
