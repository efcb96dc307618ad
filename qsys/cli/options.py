"""Grid Engine's submit options (qsub, later qrsh/qlogin/qalter) turned into a JobSpec.

qsub imports this on every call, so it uses the standard library only. Each option is a row
of a table (name -> number of arguments, handler); qrsh, qlogin and qalter derive their
tables from :data:`SUBMIT_OPTIONS` by adding, replacing or dropping rows.

Parsing is two steps: :func:`scan` checks names and argument counts and expands ``-@ file``;
:func:`apply` runs the handlers on a :class:`ParseState`. :func:`parse_submit_args` applies
the sources in Grid Engine's order (later wins): the cell's ``sge_request``,
``~/.sge_request``, ``./.sge_request``, the script's ``#$`` directives, the command line.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence

from qsys.errors import QsysError, UsageError
from qsys.grammar.values import (
    parse_datetime,
    parse_slot_range,
    parse_task_range,
    split_quoted,
)
from qsys.jobspec import JobSpec, PeRequest, TaskRange
from qsys.record import fields

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs a command milliseconds at run time
    from typing import BinaryIO, TypeVar
    _T = TypeVar("_T")

__all__ = [
    "Action",
    "Option",
    "OptionTable",
    "ParseState",
    "SUBMIT_OPTIONS",
    "apply",
    "directive_args",
    "parse_options",
    "parse_submit_args",
    "scan",
    "usage",
]

DEFAULT_PREFIX = "#$"


# Plain slotted classes, not dataclasses: building a dataclass costs a millisecond of every
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


Handler = Callable[[ParseState, str, list[str]], None]


class Option:
    """One row of an option table: how many arguments follow, and what to do with them."""

    __slots__ = ("handler", "nargs")

    def __init__(self, nargs: int, handler: Handler) -> None:
        self.nargs = nargs
        self.handler = handler

    def __repr__(self) -> str:
        return f"Option({self.nargs}, {getattr(self.handler, '__name__', self.handler)})"


OptionTable = Mapping[str, Option]


class Action:
    """A scanned option with its arguments, ready to apply."""

    __slots__ = ("name", "option", "values")

    def __init__(self, name: str, option: Option, values: list[str]) -> None:
        self.name = name
        self.option = option
        self.values = values

    def __repr__(self) -> str:
        return f"Action({self.name!r}, {self.values!r})"


# --------------------------------------------------------------------------- argument checks
# Each takes (program, option name, text) and returns the value or raises UsageError.

Convert = Callable[[str, str, str], object]
_YES = {"y": True, "yes": True, "n": False, "no": False}
_NAME_FORBIDDEN = set("/:@\\*?\n\t\r ")
_MAIL_LETTERS = set("beasn")


def _bad(program: str, name: str, value: str, why: str = "") -> UsageError:
    tail = f": {why}" if why else ""
    return UsageError(f'{program}: invalid option argument "{name} {value}"{tail}')


def _text(program: str, name: str, value: str) -> str:
    return value


def _yes_no(program: str, name: str, value: str) -> bool:
    answer = _YES.get(value.lower())
    if answer is None:
        raise _bad(program, name, value, "expected y or n")
    return answer


def _comma_list(program: str, name: str, value: str) -> list[str]:
    items = [item.strip() for item in value.split(",")]
    if not all(items):
        raise _bad(program, name, value, "empty list element")
    return items


def _integer(program: str, name: str, value: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise _bad(program, name, value, "not an integer") from None
    if not low <= number <= high:
        raise _bad(program, name, value, f"must be between {low} and {high}")
    return number


def _bounded(low: int, high: int = 2**31 - 1) -> Convert:
    return lambda program, name, value: _integer(program, name, value, low, high)


def _job_name(program: str, name: str, value: str) -> str:
    if not value or _NAME_FORBIDDEN.intersection(value):
        raise _bad(program, name, value, "a job name must not be empty or contain "
                   "blanks or any of / : @ \\ * ?")
    return value


def _mail_options(program: str, name: str, value: str) -> str:
    if not value or not _MAIL_LETTERS.issuperset(value) or ("n" in value and len(value) > 1):
        raise _bad(program, name, value, "expected letters from b e a s, or n")
    return value


def _verify_level(program: str, name: str, value: str) -> str:
    if value not in ("e", "w", "n", "v", "p"):
        raise _bad(program, name, value, "expected one of e w n v p")
    return value


def _start_time(program: str, name: str, value: str) -> float:
    return _checked(parse_datetime, program, name, value)


def _checked(
    parse: Callable[[str], _T], program: str, name: str, value: str, shown: str = ""
) -> _T:
    """Run a value parser of qsys.grammar.values, its error worded as a usage error."""
    try:
        return parse(value)
    except QsysError as exc:
        raise _bad(program, name, shown or value, exc.message) from None


def _variables(program: str, name: str, value: str) -> list[tuple[str, str | None]]:
    """``var[=val],...``; a variable without ``=`` has no value (None)."""
    pairs: list[tuple[str, str | None]] = []
    for item in _comma_list(program, name, value):
        key, sep, val = item.partition("=")
        if not key:
            raise _bad(program, name, value, "variable name missing")
        pairs.append((key, val if sep else None))
    return pairs


def _resources(program: str, name: str, value: str) -> dict[str, str]:
    """``res=val,...``: a resource without a value is a boolean request (TRUE)."""
    result: dict[str, str] = {}
    for item in _checked(split_quoted, program, name, value):
        key, sep, val = item.partition("=")
        key = key.strip()
        if not key or (sep and not val.strip()):
            raise _bad(program, name, value, "expected resource=value")
        result[key] = val.strip() if sep else "TRUE"
    return result


def _pe_request(program: str, pe_name: str, text: str) -> PeRequest:
    """``-pe name n | n-m | -m | n-``."""
    if not pe_name:
        raise _bad(program, "-pe", f"{pe_name} {text}", "parallel environment name missing")
    first, last = _checked(parse_slot_range, program, "-pe", text, shown=f"{pe_name} {text}")
    return PeRequest(pe_name, first, last)


def _task_range(program: str, name: str, value: str) -> TaskRange:
    return TaskRange(*_checked(parse_task_range, program, name, value))


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
        getattr(state.spec, attr).extend(_comma_list(state.program, name, values[0]))

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


def _keep(convert: Convert | None = None) -> Handler:
    """Options accepted for compatibility that JobSpec has no field for (kept in state)."""

    def handler(state: ParseState, name: str, values: list[str]) -> None:
        if convert is not None:
            convert(state.program, name, values[0])
        state.extra[name] = " ".join(values)

    return handler


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
    target.update(_resources(state.program, name, values[0]))


def _queues(state: ParseState, name: str, values: list[str]) -> None:
    target = state.spec.soft_queues if state.soft else state.spec.hard_queues
    target.extend(_comma_list(state.program, name, values[0]))


def _soft(state: ParseState, name: str, values: list[str]) -> None:
    state.soft = name == "-soft"


def _pe(state: ParseState, name: str, values: list[str]) -> None:
    state.spec.pe = _pe_request(state.program, values[0], values[1])


def _prefix(state: ParseState, name: str, values: list[str]) -> None:
    state.prefix = values[0]


def _clear(state: ParseState, name: str, values: list[str]) -> None:
    """``-clear``: forget every option given before it (from any source)."""
    fresh = JobSpec()
    for item in fields(JobSpec):
        setattr(state.spec, item.name, getattr(fresh, item.name))
    state.soft = False
    state.extra.clear()


def _help(state: ParseState, name: str, values: list[str]) -> None:
    sys.stdout.write(usage(state.program))
    sys.stdout.flush()
    raise SystemExit(0)


SUBMIT_OPTIONS: dict[str, Option] = {
    "-@": Option(1, _keep()),  # expanded by scan(); never applied
    "-A": Option(1, _set("account")),
    "-C": Option(1, _prefix),
    "-M": Option(1, _extend("mail_list")),
    "-N": Option(1, _set("name", _job_name)),
    "-P": Option(1, _set("project")),
    "-R": Option(1, _set("reserve", _yes_no)),
    "-S": Option(1, _set("shell")),
    "-V": Option(0, _export_all),
    "-a": Option(1, _set("start_time", _start_time)),
    "-ac": Option(1, _context("add")),
    "-b": Option(1, _set("binary", _yes_no)),
    "-c": Option(1, _set("checkpoint_when")),
    "-ckpt": Option(1, _set("checkpoint")),
    "-clear": Option(0, _clear),
    "-cwd": Option(0, _cwd),
    "-dc": Option(1, _context("delete")),
    "-e": Option(1, _set("stderr_paths", _comma_list)),
    "-h": Option(0, _flag("hold")),
    "-hard": Option(0, _soft),
    "-help": Option(0, _help),
    "-hold_jid": Option(1, _extend("hold_jids")),
    "-i": Option(1, _set("stdin_path")),
    "-j": Option(1, _set("join", _yes_no)),
    "-js": Option(1, _set("job_share", _bounded(0))),
    "-l": Option(1, _resource_request),
    "-m": Option(1, _set("mail_options", _mail_options)),
    "-masterq": Option(1, _extend("master_queues")),
    "-notify": Option(0, _flag("notify")),
    "-now": Option(1, _set("now", _yes_no)),
    "-o": Option(1, _set("stdout_paths", _comma_list)),
    "-p": Option(1, _set("priority", _bounded(-1023, 1024))),
    "-pe": Option(2, _pe),
    "-pty": Option(1, _set("pty", _yes_no)),
    "-q": Option(1, _queues),
    "-r": Option(1, _set("rerunnable", _yes_no)),
    "-sc": Option(1, _context("set")),
    "-shell": Option(1, _set("use_shell", _yes_no)),
    "-soft": Option(0, _soft),
    "-sync": Option(1, _set("sync", _yes_no)),
    "-t": Option(1, _set("tasks", _task_range)),
    "-tc": Option(1, _set("task_concurrency", _bounded(0))),
    "-terse": Option(0, _flag("terse")),
    "-v": Option(1, _env),
    "-verify": Option(0, _flag("verify")),
    "-w": Option(1, _set("verify_level", _verify_level)),
    "-wd": Option(1, _set("cwd")),
}


# --------------------------------------------------------------------------- scanning


def scan(
    argv: Sequence[str],
    table: OptionTable,
    *,
    program: str = "qsub",
    cwd: str = ".",
    depth: int = 0,
) -> tuple[list[Action], list[str]]:
    """Split ``argv`` into options and the command with its arguments (kept exactly).

    ``-@ file`` is replaced by the options in that file. Unknown options and missing
    arguments raise UsageError in Grid Engine's wording.
    """
    actions: list[Action] = []
    index = 0
    while index < len(argv):
        word = argv[index]
        if not word.startswith("-") or word == "-":
            if word == "-":
                raise UsageError(f'{program}: invalid option argument "{word}"')
            break
        option = table.get(word)
        if option is None:
            raise UsageError(f'{program}: invalid option argument "{word}"')
        values = list(argv[index + 1 : index + 1 + option.nargs])
        if len(values) < option.nargs:
            raise UsageError(f'{program}: ERROR! {word} option must have argument')
        index += 1 + option.nargs
        if word == "-@":
            actions.extend(_scan_file(values[0], table, program, cwd, depth))
        else:
            actions.append(Action(word, option, values))
    return actions, list(argv[index:])


def _scan_file(
    path: str, table: OptionTable, program: str, cwd: str, depth: int
) -> list[Action]:
    if depth > 8:
        raise UsageError(f'{program}: -@ files nest too deeply at "{path}"')
    full = os.path.join(cwd, os.path.expanduser(path))
    try:
        with open(full, encoding="utf-8", errors="surrogateescape") as handle:
            words = split_option_text(handle.read(), program, path)
    except OSError as exc:
        raise UsageError(f'{program}: error: cannot read option file "{path}": '
                         f"{exc.strerror}") from None
    actions, rest = scan(words, table, program=program, cwd=cwd, depth=depth + 1)
    if rest:
        raise UsageError(f'{program}: invalid option argument "{rest[0]}" in "{path}"')
    return actions


def split_option_text(text: str, program: str, origin: str) -> list[str]:
    """Words of an option file (``sge_request``, ``-@``): shell quoting, ``#`` comments."""
    try:
        import shlex  # only for sge_request files and directives: re costs a plain qsub 3 ms

        return shlex.split(text, comments=True)
    except ValueError as exc:
        raise UsageError(f'{program}: error: cannot parse "{origin}": {exc}') from None


def apply(actions: Iterable[Action], state: ParseState) -> None:
    """Run the handlers of scanned options, in order."""
    for action in actions:
        action.option.handler(state, action.name, action.values)


def parse_options(
    argv: Sequence[str],
    table: OptionTable,
    spec: JobSpec,
    *,
    program: str = "qsub",
    environ: Mapping[str, str] | None = None,
    cwd: str | None = None,
) -> list[str]:
    """Apply the options in ``argv`` to ``spec``; return the command and its arguments."""
    state = ParseState(
        spec,
        program=program,
        environ=os.environ if environ is None else environ,
        cwd=os.getcwd() if cwd is None else cwd,
    )
    actions, rest = scan(argv, table, program=program, cwd=state.cwd)
    apply(actions, state)
    return rest


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
            words.extend(split_option_text(text, program, "script directive"))
    return words


def _request_files(cwd: str, environ: Mapping[str, str]) -> list[str]:
    from qsys.paths import Cell

    home = environ.get("HOME") or os.path.expanduser("~")
    return [
        str(Cell.current().sge_request_file),
        os.path.join(home, ".sge_request"),
        os.path.join(cwd, ".sge_request"),
    ]


def _file_actions(
    paths: Sequence[str], table: OptionTable, program: str, cwd: str
) -> list[Action]:
    actions: list[Action] = []
    for path in paths:
        try:
            with open(path, encoding="utf-8", errors="surrogateescape") as handle:
                text = handle.read()
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as exc:
            raise UsageError(f'{program}: error: cannot read "{path}": {exc.strerror}') from None
        found, rest = scan(split_option_text(text, program, path), table,
                           program=program, cwd=cwd)
        if rest:
            raise UsageError(f'{program}: invalid option argument "{rest[0]}" in "{path}"')
        actions.extend(found)
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
    except OSError as exc:
        raise QsysError(
            "Unable to read script file because of error: error opening "
            f"{command}: {exc.strerror}"
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
    files = _request_files(where, env) if request_files is None else request_files
    defaults = _file_actions(files, table, program, where)
    command_line, rest = scan(argv, table, program=program, cwd=where)

    # -b and -C decide whether and how the script is read: settle them first.
    probe = ParseState(JobSpec(), program=program, environ=env, cwd=where)
    apply(defaults + command_line, probe)
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
    for source in (defaults, directives, command_line):
        state.soft = False  # -soft does not reach past the file or list it was given in
        apply(source, state)
    result = state.spec
    result.command, result.args, result.script = spec.command, spec.args, spec.script
    result.binary = binary
    if not result.name:
        result.name = os.path.basename(result.command) or result.command
    result.submit_cwd = where
    result.submit_env = submit_environment(env, where)
    return result


_HELP = """\
   [-a date_time]                   start not before [[CC]YY]MMDDhhmm[.SS]
   [-A account_string]              account to charge
   [-b y[es]|n[o]]                  the command is a binary, not a script
   [-C directive_prefix]            prefix of embedded options (default #$)
   [-clear]                         forget every option given so far
   [-cwd]                           run in the current directory
   [-e path_list] [-o path_list]    stderr and stdout files, [host:]path,...
   [-h]                             submit held
   [-hard] [-soft]                  following -l and -q requests are hard or soft
   [-help]                          print this help and exit
   [-hold_jid job_list]             wait for these jobs to finish
   [-i file]                        standard input of the job
   [-j y[es]|n[o]]                  merge stderr into stdout
   [-l resource=value,...]          request resources
   [-m b|e|a|s|n] [-M mail_list]    when and whom to mail
   [-masterq queue_list]            queues for the master task of a parallel job
   [-N name]                        job name
   [-notify]                        send warning signals before suspend and kill
   [-now y[es]|n[o]]                start at once or fail
   [-p priority]                    priority from -1023 to 1024
   [-P project]                     project of the job
   [-pe pe_name slot_range]         parallel environment and slots (n, n-m, -m, n-)
   [-q queue_list]                  queues the job may run in
   [-r y[es]|n[o]]                  the job may be rerun
   [-S path]                        shell that runs the script
   [-sync y[es]|n[o]]               wait for the job and exit with its status
   [-t n[-m[:s]]] [-tc max]         array job tasks, and how many run at once
   [-terse]                         print only the job id
   [-v var[=value],...] [-V]        export these variables, or the whole environment
   [-verify]                        check the job without submitting it
   [-wd dir]                        run in this directory
   [-@ file]                        read options from a file
   also accepted: -ac -dc -sc -c -ckpt -js -pty -R -shell -w
"""


def usage(program: str) -> str:
    """The -help text."""
    return f"usage: {program} [options] [script [script_args]]\n\n{_HELP}"
