"""What qrsh and qlogin share: their options, the interactive job spec, and the session run.

``qrsh cmd args`` runs a command (job type qrsh, name: the command's first word's basename);
``qrsh`` alone opens a login shell (qrlogin, name QRLOGIN); ``qlogin`` too (qlogin, name
QLOGIN); ``-N`` renames. ``-now y`` is the default. A pty is used when asked (``-pty y``) or,
by default, when there is no command and stdin is a terminal. The client exits with the
remote program's exit status.
"""

from __future__ import annotations

import os
import sys

from qsys.cli.engine import Option, apply, scan
from qsys.cli.options import (
    SUBMIT_OPTIONS,
    Handler,
    ParseState,
    check_names,
    file_actions,
    sge_request_files,
    submit_environment,
)
from qsys.errors import NotSchedulable, UsageError, Verified
from qsys.jobspec import JobSpec

_BATCH_ONLY = ("-b", "-sync", "-t", "-tc", "-terse", "-C", "-verify", "-shell", "-js", "-i", "--json")


def _extra_flag(key: str) -> Handler:
    def handler(state: ParseState, name: str, values: list[str]) -> None:
        state.extra[key] = "y"

    return handler


def _noshell(state: ParseState, name: str, values: list[str]) -> None:
    state.spec.noshell = True


def _inherit(state: ParseState, name: str, values: list[str]) -> None:
    raise UsageError(f"{state.program}: -inherit must come before the other options")


QRSH_OPTIONS = SUBMIT_OPTIONS.derive("qrsh", operands="[command [command_args]]", drop=_BATCH_ONLY, add=[
    Option("-inherit", "run a task of the current parallel job on one of its hosts", _inherit),
    Option("-noshell", "run the command without a shell around it", _noshell),
    Option("-nostdin", "do not pass standard input on", _extra_flag("nostdin")),
    Option("-verbose", "tell what happens on the way to the session", _extra_flag("verbose")),
    Option("-X", "forward X11 connections to the local display", _extra_flag("x11")),
])
QLOGIN_OPTIONS = QRSH_OPTIONS.derive("qlogin", operands="", drop=("-inherit", "-noshell", "-nostdin"))


def parse(argv: list[str], program: str) -> tuple[JobSpec, list[str], dict[str, str]]:
    """(spec, remote command, client-only flags) of a qrsh/qlogin command line."""
    cwd = os.getcwd()
    environ = os.environ
    table = QLOGIN_OPTIONS if program == "qlogin" else QRSH_OPTIONS
    defaults = file_actions(sge_request_files(cwd, environ), table, program, cwd)
    actions, rest = scan(argv, table, program=program, cwd=cwd)
    state = ParseState(JobSpec(now=True), program=program, environ=environ, cwd=cwd)
    for source in (*defaults, actions):
        state.soft = False
        apply(source, state)
    spec = state.spec
    if program == "qlogin":
        spec.job_type, default_name = "qlogin", "QLOGIN"
    elif rest:
        spec.job_type = "qrsh"
        spec.command, spec.args = rest[0], rest[1:]
        first = rest[0].split()[0] if rest[0].split() else rest[0]
        default_name = os.path.basename(first) or "QRSH"
    else:
        spec.job_type, default_name = "qrlogin", "QRLOGIN"
    spec.binary = True
    spec.name = spec.name or default_name
    check_names(spec, program)
    spec.submit_cwd = cwd
    spec.submit_env = submit_environment(environ, cwd)
    if spec.pty is None:
        spec.pty = not rest and sys.stdin.isatty()
    return spec, rest, dict(state.extra)


def main_body(argv: list[str], program: str) -> int:
    from qsys.client import Client
    from qsys.startup import session

    spec, command, flags = parse(argv, program)
    verbose = program == "qlogin" or bool(flags.get("verbose"))
    say = sys.stdout if program == "qlogin" else sys.stderr
    with Client() as client:
        try:
            job = session.submit(client, spec)
        except NotSchedulable as exc:
            if verbose:
                print("waiting for interactive job to be scheduled ...", file=say, flush=True)
            print(exc.message, file=sys.stderr)
            return 1
        except Verified as exc:  # -w v|p: it could run, and was not submitted
            print(exc.message)
            return 0
        for warning in job.warnings:
            print(warning, file=sys.stderr)
        job_id = job.job_id
        if verbose:
            print(job.message, file=say, flush=True)
        if verbose or not spec.now:
            print("waiting for interactive job to be scheduled ...", file=say, flush=True)
        try:
            grant = session.wait(client, job_id)
        except KeyboardInterrupt:
            client.job_action("delete", [str(job_id)])
            return 130
        if verbose or not spec.now:
            print(f"Your interactive job {job_id} has been successfully scheduled.", file=say)
        if verbose:
            how = "builtin" if session.is_builtin(grant.command) else grant.command
            print(f"Establishing {how} session to host {grant.host} ...", file=say)
        say.flush()
    display = os.environ.get("DISPLAY", "") if flags.get("x11") else ""
    return session.connect(grant, command, pty=bool(spec.pty), nostdin=bool(flags.get("nostdin")),
                           display=display)
