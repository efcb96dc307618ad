"""Grid Engine's submit options (qsub, and qrsh/qlogin/qalter by derivation) into a JobSpec.

qsub imports this on every call, so it uses the standard library only. The options are rows
of an :class:`~qsys.cli.engine.OptionTable` (synopsis, help line, handler); qrsh, qlogin
and qalter derive their tables from :data:`SUBMIT_OPTIONS` by adding, replacing or
dropping rows. Handlers change a :class:`ParseState`.

:func:`parse_submit_args` applies the sources in Grid Engine's order (later wins): the
cell's ``sge_request``, ``~/.sge_request``, ``./.sge_request``, the script's ``#$``
directives, the command line.
"""

from __future__ import annotations

import os
import sys
from _collections_abc import Callable  # collections.abc without the collections package (2 ms)

from qsys.cli.engine import (
    FILE,
    HELP,
    JSON,
    Action,
    Option,
    OptionTable,
    apply,
    bad_value,
    checked,
    comma_list,
    scan,
    split_words,
)
from qsys.errors import QsysError, UsageError
from qsys.grammar.names import account_problem, job_name_problem
from qsys.grammar.requests import parse_queue_list, parse_resource_list
from qsys.grammar.values import parse_datetime, parse_slot_range, parse_task_range
from qsys.jobspec import JobSpec, PeRequest, TaskRange
from qsys.record import fields

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs a command milliseconds at run time
    from collections.abc import Mapping, Sequence
    from typing import BinaryIO

__all__ = [
    "SUBMIT_OPTIONS",
    "ParseState",
    "check_names",
    "directive_args",
    "parse_options",
    "parse_submit_args",
]

DEFAULT_PREFIX = "#$"


# A plain slotted class, not a dataclass: building a dataclass costs a millisecond of every
# qsub's start-up.


class ParseState:
    """What handlers change: the spec plus parser modes that are not part of the job."""

    __slots__ = ("cwd", "environ", "extra", "prefix", "program", "soft", "spec")

    def __init__(
        self,
        spec: JobSpec,
        *,
        program: str = "qsub",
        environ: Mapping[str, str] | None = None,
        cwd: str = ".",
    ) -> None:
        self.spec = spec
        self.program = program
        self.environ: Mapping[str, str] = {} if environ is None else environ
        self.cwd = cwd
        self.soft = False  # -soft seen (until -hard): -l and -q go to the soft lists
        self.prefix = DEFAULT_PREFIX  # -C
        self.extra: dict[str, str] = {}  # accepted options JobSpec has no field for

    @property
    def form(self) -> str:
        """The output form (--json): a client-only option of the spec, as -terse."""
        return self.spec.form

    @form.setter
    def form(self, value: str) -> None:
        self.spec.form = value


Handler = Callable[[ParseState, str, list[str]], None]


# --------------------------------------------------------------------------- argument checks
# Each takes (program, option name, text) and returns the value or raises UsageError.

Convert = Callable[[str, str, str], object]
_YES = {"y": True, "yes": True, "n": False, "no": False}
_MAIL_LETTERS = set("beasn")


def _text(program: str, name: str, value: str) -> str:
    return value


def _yes_no(program: str, name: str, value: str) -> bool:
    answer = _YES.get(value.lower())
    if answer is None:
        raise bad_value(program, name, value, "expected y or n")
    return answer


def _integer(program: str, name: str, value: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise bad_value(program, name, value, "not an integer") from None
    if not low <= number <= high:
        raise bad_value(program, name, value, f"must be between {low} and {high}")
    return number


def _bounded(low: int, high: int = 2**31 - 1) -> Convert:
    return lambda program, name, value: _integer(program, name, value, low, high)


def _ar_id(program: str, name: str, value: str) -> int:
    if not value.isdigit():
        raise UsageError(f"{program}: invalid advance reservation id, must be an unsigned integer")
    return int(value)


def _job_name(program: str, name: str, value: str) -> str:
    """The client's own check of ``-N`` (the others are :func:`check_names`'s), as in SGE."""
    if "/" in value:
        raise UsageError(f"{program}: argument to -N option must not contain / ")
    return value


def _mail_options(program: str, name: str, value: str) -> str:
    if not value or not _MAIL_LETTERS.issuperset(value) or ("n" in value and len(value) > 1):
        raise bad_value(program, name, value, "expected letters from b e a s, or n")
    return value


def _verify_level(program: str, name: str, value: str) -> str:
    if value not in ("e", "w", "n", "v", "p"):
        raise bad_value(program, name, value, "expected one of e w n v p")
    return value


def _start_time(program: str, name: str, value: str) -> float:
    return checked(parse_datetime, program, name, value)


def _variables(program: str, name: str, value: str) -> list[tuple[str, str | None]]:
    """``var[=val],...``; a variable without ``=`` has no value (None)."""
    pairs: list[tuple[str, str | None]] = []
    for item in comma_list(program, name, value):
        key, sep, val = item.partition("=")
        if not key:
            raise bad_value(program, name, value, "variable name missing")
        pairs.append((key, val if sep else None))
    return pairs


def _pe_request(program: str, pe_name: str, text: str) -> PeRequest:
    """``-pe name n | n-m | -m | n-``."""
    if not pe_name:
        raise bad_value(program, "-pe", f"{pe_name} {text}", "parallel environment name missing")
    first, last = checked(parse_slot_range, program, "-pe", text, shown=f"{pe_name} {text}")
    return PeRequest(pe_name, first, last)


def _task_range(program: str, name: str, value: str) -> TaskRange:
    return TaskRange(*checked(parse_task_range, program, name, value))


_CKPT_LETTERS = set("nsmxr")


def _checkpoint(state: ParseState, name: str, values: list[str]) -> None:
    """``-c``: when to checkpoint (letters of n s m x r) or every hh:mm:ss (or seconds), with
    Grid Engine's messages for what is neither."""
    value, spec = values[0], state.spec
    if value and set(value) <= _CKPT_LETTERS:
        spec.checkpoint_when, spec.checkpoint_interval = value, 0
        return
    parts = value.split(":")
    if not value or not all(p.isdigit() for p in parts):
        raise UsageError(f"{state.program}: -c specifier invalid")
    if len(parts) not in (1, 3) or (len(parts) == 3 and (int(parts[1]) > 59 or int(parts[2]) > 59)):
        raise UsageError(f"{state.program}: -c argument invalid")
    seconds = int(parts[0]) if len(parts) == 1 else int(parts[0]) * 3600 + int(parts[1]) * 60 + int(parts[2])
    if seconds <= 0:
        raise UsageError(f"{state.program}: -c argument invalid")
    spec.checkpoint_when, spec.checkpoint_interval = None, seconds


# --------------------------------------------------------------------------- handlers
# Each takes (state, option name, its arguments). Small setters are built by factories.


def _set(attr: str, convert: Convert = _text) -> Handler:
    def handler(state: ParseState, name: str, values: list[str]) -> None:
        setattr(state.spec, attr, convert(state.program, name, values[0]))

    return handler


def _flag(attr: str) -> Handler:
    def handler(state: ParseState, name: str, values: list[str]) -> None:
        setattr(state.spec, attr, True)

    return handler


def _extend(attr: str) -> Handler:
    def handler(state: ParseState, name: str, values: list[str]) -> None:
        getattr(state.spec, attr).extend(comma_list(state.program, name, values[0]))

    return handler


def _context(how: str) -> Handler:
    """-ac adds variables to the job context, -sc replaces it, -dc deletes from it."""

    def handler(state: ParseState, name: str, values: list[str]) -> None:
        pairs = _variables(state.program, name, values[0])
        context = state.spec.context
        if how == "set":
            context.clear()
        for key, value in pairs:
            if how == "delete":
                context.pop(key, None)
            else:
                context[key] = value or ""

    return handler


def keep(state: ParseState, name: str, values: list[str]) -> None:
    """Options accepted for compatibility that JobSpec has no field for (kept in state)."""
    state.extra[name] = " ".join(values)


def _cwd(state: ParseState, name: str, values: list[str]) -> None:
    state.spec.cwd = state.cwd


def _env(state: ParseState, name: str, values: list[str]) -> None:
    for key, val in _variables(state.program, name, values[0]):
        state.spec.env[key] = val if val is not None else state.environ.get(key, "")


def _export_all(state: ParseState, name: str, values: list[str]) -> None:
    for key, val in state.environ.items():
        state.spec.env.setdefault(key, val)
    state.spec.export_all = True


def _resource_request(state: ParseState, name: str, values: list[str]) -> None:
    target = state.spec.soft_resources if state.soft else state.spec.hard_resources
    target.update(checked(parse_resource_list, state.program, name, values[0]))


def _queues(state: ParseState, name: str, values: list[str]) -> None:
    target = state.spec.soft_queues if state.soft else state.spec.hard_queues
    target.extend(checked(parse_queue_list, state.program, name, values[0]))


def _soft(state: ParseState, name: str, values: list[str]) -> None:
    state.soft = name == "-soft"


def _pe(state: ParseState, name: str, values: list[str]) -> None:
    state.spec.pe = _pe_request(state.program, values[0], values[1])


def _prefix(state: ParseState, name: str, values: list[str]) -> None:
    state.prefix = values[0]


def _clear(state: ParseState, name: str, values: list[str]) -> None:
    """``-clear``: forget every option of the job given before it (from any source); what
    the command itself does with its answer (-terse, -sync, -verify, --json) stays, as in
    Grid Engine."""
    fresh = JobSpec()
    for item in fields(JobSpec):
        if item.name not in JobSpec.CLIENT_ONLY:
            setattr(state.spec, item.name, getattr(fresh, item.name))
    state.soft = False
    state.extra.clear()


SUBMIT_OPTIONS = OptionTable("qsub", [
    HELP,
    FILE,
    JSON,
    Option("-a date_time", "start not before [[CC]YY]MMDDhhmm[.SS]", _set("start_time", _start_time)),
    Option("-A account_string", "account to charge", _set("account")),
    Option("-ac variable[=value],...", "add to the job context", _context("add")),
    Option("-ar ar_id", "run in this advance reservation (qrsub)", _set("ar_id", _ar_id)),
    Option("-b y[es]|n[o]", "the command is a binary, not a script", _set("binary", _yes_no)),
    Option("-c ckpt_selector", "when to checkpoint: letters of n s m x r, or an interval", _checkpoint),
    Option("-C directive_prefix", "prefix of embedded options (default #$)", _prefix),
    Option("-ckpt ckpt_name", "checkpointing interface of the job", _set("checkpoint")),
    Option("-clear", "forget every option given so far", _clear),
    Option("-cwd", "run in the current directory", _cwd),
    Option("-dc variable,...", "delete from the job context", _context("delete")),
    Option("-e path_list", "stderr file, [host:]path,...", _set("stderr_paths", comma_list)),
    Option("-h", "submit held", _flag("hold")),
    Option("-hard", "following -l and -q requests are hard (the default)", _soft),
    Option("-hold_jid job_list", "wait for these jobs to finish", _extend("hold_jids")),
    Option("-hold_jid_ad job_list", "each array task waits for the same task of these array jobs",
           _extend("hold_jids_ad")),
    Option("-i file", "standard input of the job", _set("stdin_path")),
    Option("-j y[es]|n[o]", "merge stderr into stdout", _set("join", _yes_no)),
    Option("-js job_share", "share of the job in the share tree", _set("job_share", _bounded(0))),
    Option("-l resource=value,...", "request resources", _resource_request),
    Option("-m b|e|a|s|n", "when to mail (begin, end, abort, suspend; n: never)",
           _set("mail_options", _mail_options)),
    Option("-M mail_list", "whom to mail", _extend("mail_list")),
    Option("-masterq queue_list", "queues for the master task of a parallel job", _extend("master_queues")),
    Option("-N name", "job name", _set("name", _job_name)),
    Option("-notify", "send warning signals before suspend and kill", _flag("notify")),
    Option("-now y[es]|n[o]", "start at once or fail", _set("now", _yes_no)),
    Option("-o path_list", "stdout file, [host:]path,...", _set("stdout_paths", comma_list)),
    Option("-p priority", "priority from -1023 to 1024", _set("priority", _bounded(-1023, 1024))),
    Option("-P project", "project of the job", _set("project")),
    Option("-pe pe_name slot_range", "parallel environment and slots (n, n-m, -m, n-)", _pe),
    Option("-pty y[es]|n[o]", "run the job in a pseudo terminal", _set("pty", _yes_no)),
    Option("-q queue_list", "queues the job may run in", _queues),
    Option("-r y[es]|n[o]", "the job may be rerun", _set("rerunnable", _yes_no)),
    Option("-R y[es]|n[o]", "reserve resources for the job", _set("reserve", _yes_no)),
    Option("-S path", "shell that runs the script", _set("shell")),
    Option("-sc variable[=value],...", "set the job context (replaces it)", _context("set")),
    Option("-shell y[es]|n[o]", "start the command through a shell (n: directly)", _set("use_shell", _yes_no)),
    Option("-soft", "following -l and -q requests are soft", _soft),
    Option("-sync y[es]|n[o]", "wait for the job and exit with its status", _set("sync", _yes_no)),
    Option("-t n[-m[:s]]", "array job tasks", _set("tasks", _task_range)),
    Option("-tc max", "how many array tasks run at once", _set("task_concurrency", _bounded(0))),
    Option("-terse", "print only the job id", _flag("terse")),
    Option("-v var[=value],...", "export these variables", _env),
    Option("-V", "export the whole environment", _export_all),
    Option("-verify", "check the job without submitting it", _flag("verify")),
    Option("-w e|w|n|v|p", "how to verify the job (error, warning, none, verify, poke)",
           _set("verify_level", _verify_level)),
    Option("-wd dir", "run in this directory", _set("cwd")),
], "[script [script_args]]")


def parse_options(
    argv: Sequence[str],
    table: OptionTable,
    spec: JobSpec,
    *,
    program: str | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: str | None = None,
) -> list[str]:
    """Apply the options in ``argv`` to ``spec``; return the command and its arguments."""
    state = ParseState(
        spec,
        program=program or table.program,
        environ=os.environ if environ is None else environ,
        cwd=os.getcwd() if cwd is None else cwd,
    )
    actions, rest = scan(argv, table, program=state.program, cwd=state.cwd)
    apply(actions, state)
    return rest


def check_names(spec: JobSpec, program: str) -> None:
    """Refuse a job name or account Grid Engine refuses, with its message (qsub wraps it in
    "Unable to run job", as SGE's qsub does with the master's answer)."""
    problem = job_name_problem(spec.name) or (account_problem(spec.account) if spec.account else None)
    if problem is not None:
        raise QsysError(f"Unable to run job: {problem}\nExiting." if program == "qsub" else problem)


# --------------------------------------------------------------------------- qsub


def directive_args(script: bytes, prefix: str, program: str = "qsub") -> list[str]:
    """Option words of every line of the script that starts with ``prefix`` (``#$``)."""
    if not prefix:
        return []
    words: list[str] = []
    marker = prefix.encode("utf-8", "surrogateescape")
    for line in script.splitlines():
        if line.startswith(marker):
            text = line[len(marker) :].decode("utf-8", "surrogateescape")
            words.extend(split_words(text, program, "script directive"))
    return words


def sge_request_files(cwd: str, environ: Mapping[str, str]) -> list[str]:
    """The three ``sge_request`` files, in the order they apply."""
    from qsys.paths import sge_request_path

    home = environ.get("HOME") or os.path.expanduser("~")
    return [
        sge_request_path(),
        os.path.join(home, ".sge_request"),
        os.path.join(cwd, ".sge_request"),
    ]


def file_actions(paths: Sequence[str], table: OptionTable, program: str, cwd: str) -> list[list[Action]]:
    """The options of each ``sge_request`` file that exists, in order, one list per file
    (a -soft in one file does not reach into the next, as in Grid Engine)."""
    actions: list[list[Action]] = []
    for path in paths:
        try:
            with open(path, encoding="utf-8", errors="surrogateescape") as handle:
                text = handle.read()
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as exc:
            raise UsageError(f'{program}: error: cannot read "{path}": {exc.strerror}') from None
        found, rest = scan(split_words(text, program, path), table, program=program, cwd=cwd)
        if rest:
            raise UsageError(f'{program}: invalid option argument "{rest[0]}" in "{path}"')
        actions.append(found)
    return actions


def submit_environment(environ: Mapping[str, str], cwd: str) -> dict[str, str]:
    """The submitter's HOME, LOGNAME, PATH, SHELL, WORKDIR and HOST (SGE_O_* in the job)."""
    import pwd

    try:
        entry = pwd.getpwuid(os.getuid())
        home, logname, shell = entry.pw_dir, entry.pw_name, entry.pw_shell
    except KeyError:
        home = environ.get("HOME", "/")
        logname = environ.get("LOGNAME") or environ.get("USER", "")
        shell = environ.get("SHELL", "/bin/sh")
    return {
        "HOME": environ.get("HOME") or home,
        "LOGNAME": logname,
        "PATH": environ.get("PATH", ""),
        "SHELL": environ.get("SHELL") or shell,
        "WORKDIR": cwd,
        "HOST": os.uname().nodename.split(".")[0],
    }


def _read_script(command: str, cwd: str, program: str) -> bytes:
    try:
        with open(os.path.join(cwd, command), "rb") as handle:
            return handle.read()
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte (from a #$ line or an -@ file)
        reason = exc.strerror if isinstance(exc, OSError) else "No such file or directory"
        raise QsysError(
            "Unable to read script file because of error: error opening "
            f"{command}: {reason}"
        ) from None


def parse_submit_args(
    argv: list[str],
    *,
    program: str = "qsub",
    environ: Mapping[str, str] | None = None,
    cwd: str | None = None,
    stdin: BinaryIO | None = None,
    table: OptionTable = SUBMIT_OPTIONS,
    request_files: Sequence[str] | None = None,
) -> JobSpec:
    """A JobSpec from sge_request files, script directives and the command line.

    ``request_files`` replaces the three default ``sge_request`` locations (for tests).
    """
    env = os.environ if environ is None else environ
    where = os.getcwd() if cwd is None else cwd
    files = sge_request_files(where, env) if request_files is None else request_files
    defaults = file_actions(files, table, program, where)
    command_line, rest = scan(argv, table, program=program, cwd=where)

    # -b and -C decide whether and how the script is read: settle them first.
    probe = ParseState(JobSpec(), program=program, environ=env, cwd=where)
    apply([action for source in defaults for action in source] + command_line, probe)
    binary, prefix = probe.spec.binary, probe.prefix

    spec = JobSpec()
    directives: list[Action] = []
    if rest:
        spec.command, spec.args = rest[0], rest[1:]
    elif binary:
        raise UsageError(f"{program}: ERROR! no command given with -b y")
    else:
        spec.command = "STDIN"
    if not binary:
        if rest:
            spec.script = _read_script(spec.command, where, program)
        else:
            spec.script = (stdin if stdin is not None else sys.stdin.buffer).read()
        found, extra = scan(directive_args(spec.script, prefix, program), table,
                            program=program, cwd=where)
        if extra:
            raise UsageError(f'{program}: invalid option argument "{extra[0]}" in script')
        directives = [action for action in found if action.name not in ("-C", "-b")]

    state = ParseState(JobSpec(), program=program, environ=env, cwd=where)
    for source in (*defaults, directives, command_line):
        state.soft = False  # -soft does not reach past the file or list it was given in
        apply(source, state)
    result = state.spec
    result.command, result.args, result.script = spec.command, spec.args, spec.script
    result.binary = binary
    if not result.name:
        result.name = os.path.basename(result.command) or result.command
    check_names(result, program)
    result.submit_cwd = where
    result.submit_env = submit_environment(env, where)
    return result

