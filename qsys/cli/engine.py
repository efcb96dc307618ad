"""The option engine every q-command parses with: Grid Engine options as a table of rows.

A row (:class:`Option`) is the option's synopsis as ``-help`` shows it (``-pe pe_name
slot_range``, ``-j [job_list]``), its help line and its handler. The synopsis also says how
many arguments the option takes (a word in brackets is optional), so the help text and the
parser cannot disagree. An :class:`OptionTable` is the rows of one command; derived commands
(qrsh, qlogin, qalter from qsub) drop, replace or add rows.

Parsing is two steps: :func:`scan` checks names and argument counts, expands ``-@ file`` and
answers ``-help``; :func:`apply` runs the handlers, in order, on the command's state (any
object: the handlers know it). Standard library only: every command imports this.
"""

from __future__ import annotations

import os
import sys
from _collections_abc import Callable  # collections.abc without the collections package (2 ms)

from qsys.errors import QsysError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs a command milliseconds at run time
    from collections.abc import Iterable, Iterator, Sequence
    from typing import Any, TypeVar
    _T = TypeVar("_T")

__all__ = [
    "CSV",
    "HELP",
    "JSON",
    "XML",
    "Action",
    "Option",
    "OptionTable",
    "apply",
    "bad_value",
    "checked",
    "client_error",
    "comma_list",
    "parse",
    "scan",
    "split_words",
    "store_flag",
    "store_items",
    "store_text",
]

Handler = Callable[["Any", str, list[str]], None]
HELP_COLUMN = 36  # where help texts start, as in qsub's help


class Option:
    """One row: names and argument words (the synopsis), the ``-help`` line, the handler.

    ``greedy`` rows take every following word up to the next option (``qmod -d q1 q2``);
    a row whose help is None is accepted but not listed. ``missing`` words what a missing
    required argument is, one text per word ("-pe option must have pe_name argument" in
    qrsub); without it, "argument".
    """

    __slots__ = ("greedy", "handler", "help", "missing", "names", "optional", "required", "synopsis")

    def __init__(self, synopsis: str, help: str | None, handler: Handler, *, greedy: bool = False,
                 missing: tuple[str, ...] = ()) -> None:
        head, *words = synopsis.split()
        self.synopsis = " ".join([head, *words])
        self.names = tuple(head.split("|"))
        self.help = help
        self.handler = handler
        self.greedy = greedy
        self.missing = missing
        self.required = sum(1 for word in words if not word.startswith("["))
        self.optional = len(words) - self.required
        if any(not word.startswith("[") for word in words[self.required:]):
            raise ValueError(f"{synopsis!r}: optional arguments must come last")

    @property
    def name(self) -> str:
        return self.names[0]

    def missing_text(self, given: int) -> str:
        """What the first missing required argument is called, after ``given`` were given."""
        return self.missing[given] if given < len(self.missing) else "argument"

    def help_line(self) -> str:
        left = f"   [{self.synopsis}]"
        return f"{left:<{HELP_COLUMN - 1}} {self.help}".rstrip()

    def __repr__(self) -> str:
        return f"Option({self.synopsis!r})"


def _described(state: object, name: str, values: list[str]) -> None:
    """-help and -@ are answered by the scan; their rows only describe them."""


HELP = Option("-help", "print this help and exit", _described)
FILE = Option("-@ file", "read options from a file", _described)


def output_form(state: Any, name: str, values: list[str]) -> None:
    """--json, --csv, -xml: the form a command prints in (the last one given wins), as
    ``state["form"]`` for commands whose state is a map, else ``state.form``."""
    form = name.lstrip("-")
    if isinstance(state, dict):
        state["form"] = form
    else:
        state.form = form


# the machine-readable forms, one row each for every command that prints (qsys additions but
# -xml, which is Grid Engine's): JSON as qsys.records.json_form makes it (qsys.schemas)
JSON = Option("--json", "JSON output (qsys)", output_form)
CSV = Option("--csv", "CSV output (qsys)", output_form)
XML = Option("-xml", "XML output", output_form)


def _help_order(option: Option) -> tuple[bool, str, str]:
    """The -help order: by name ignoring case, lower case first; -@ and --long ones last."""
    name = option.name
    return (not name[1:2].isalpha(), name.lower(), name.swapcase())


class OptionTable:
    """The options of one command, by name, and its ``-help`` text.

    ``operands`` is the synopsis of what follows the options (``[script [script_args]]``);
    a command without operands refuses any other word. ``interleaved`` commands (qdel)
    take operands between options; the others stop at the first one, which begins the
    command and its arguments (kept exactly). ``usage_on_error`` adds the help to the
    messages of unknown options and missing arguments, as those Grid Engine commands do.
    """

    __slots__ = ("_by_name", "interleaved", "operands", "program", "rows", "usage_on_error")

    def __init__(
        self,
        program: str,
        rows: Iterable[Option],
        operands: str = "",
        *,
        interleaved: bool = False,
        usage_on_error: bool = False,
    ) -> None:
        self.program = program
        self.rows = sorted(rows, key=_help_order)
        self.operands = operands
        self.interleaved = interleaved
        self.usage_on_error = usage_on_error
        self._by_name = {name: row for row in self.rows for name in row.names}

    def get(self, name: str) -> Option | None:
        return self._by_name.get("-help" if name == "--help" else name)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[str]:
        """Every option name the command accepts (and --help, as -help)."""
        return iter(self._by_name)

    def listed(self) -> list[str]:
        """The option names ``-help`` shows."""
        return [name for row in self.rows if row.help is not None for name in row.names]

    def __getitem__(self, name: str) -> Option:
        return self._by_name[name]

    def derive(
        self,
        program: str | None = None,
        *,
        operands: str | None = None,
        drop: Iterable[str] = (),
        add: Iterable[Option] = (),
        usage_on_error: bool | None = None,
    ) -> OptionTable:
        """A table for a related command: these rows dropped, those added or replaced."""
        rows = [row for row in self.rows if not set(drop).intersection(row.names)]
        for row in add:  # a row replaces the rows of the same names
            rows = [old for old in rows if not set(old.names).intersection(row.names)] + [row]
        return OptionTable(
            program or self.program,
            rows,
            self.operands if operands is None else operands,
            interleaved=self.interleaved,
            usage_on_error=self.usage_on_error if usage_on_error is None else usage_on_error,
        )

    def usage(self, program: str | None = None) -> str:
        """The ``-help`` text: the synopsis line, then one line per listed option."""
        head = f"usage: {program or self.program} [options]"
        lines = [f"{head} {self.operands}".rstrip()]
        lines += [row.help_line() for row in self.rows if row.help is not None]
        return "\n".join(lines) + "\n"

    def error(self, message: str, program: str) -> UsageError:
        if self.usage_on_error:
            message = f"{message}\n{self.usage(program).rstrip()}"
        return UsageError(message)


class Action:
    """A scanned option with its arguments, ready to apply."""

    __slots__ = ("name", "option", "values")

    def __init__(self, name: str, option: Option, values: list[str]) -> None:
        self.name = name
        self.option = option
        self.values = values

    def __repr__(self) -> str:
        return f"Action({self.name!r}, {self.values!r})"


# --------------------------------------------------------------------------- scanning


def scan(
    argv: Sequence[str],
    table: OptionTable,
    *,
    program: str | None = None,
    cwd: str = ".",
    depth: int = 0,
) -> tuple[list[Action], list[str]]:
    """Split ``argv`` into options and operands (the command with its arguments, kept
    exactly, or the interleaved operands of commands like qdel).

    ``-@ file`` is replaced by the options in that file; ``-help`` prints the help and
    exits. Unknown options and missing arguments raise UsageError in Grid Engine's wording.
    """
    who = program or table.program
    actions: list[Action] = []
    operands: list[str] = []
    index, count = 0, len(argv)
    while index < count:
        word = argv[index]
        if word == "-" or not word.startswith("-"):
            if word == "-":
                raise table.error(f'{who}: invalid option argument "{word}"', who)
            if not table.interleaved:
                break
            operands.append(word)
            index += 1
            continue
        option = table.get(word)
        if option is None:
            raise table.error(f'{who}: invalid option argument "{word}"', who)
        index += 1
        end = index if option.greedy else index + option.required
        limit = count if option.greedy else min(count, end + option.optional)
        while end < limit and not argv[end].startswith("-"):
            end += 1
        if end > count or end - index < option.required:
            given = min(end, count) - index
            raise table.error(f"{who}: {word} option must have {option.missing_text(given)}", who)
        values = list(argv[index:end])
        index = end
        if option.name == "-help":
            sys.stdout.write(table.usage(who))
            sys.stdout.flush()
            raise SystemExit(0)
        if option.name == "-@":
            actions.extend(_scan_file(values[0], table, who, cwd, depth))
        else:
            actions.append(Action(word, option, values))
    operands.extend(argv[index:])
    if operands and not table.operands:
        raise table.error(f'{who}: invalid option argument "{operands[0]}"', who)
    return actions, operands


def _scan_file(path: str, table: OptionTable, program: str, cwd: str, depth: int) -> list[Action]:
    if depth > 8:
        raise UsageError(f'{program}: -@ files nest too deeply at "{path}"')
    full = os.path.join(cwd, os.path.expanduser(path))
    try:
        with open(full, encoding="utf-8", errors="surrogateescape") as handle:
            words = split_words(handle.read(), program, path)
    except OSError as exc:
        raise UsageError(f'{program}: error: cannot read option file "{path}": '
                         f"{exc.strerror}") from None
    actions, rest = scan(words, table, program=program, cwd=cwd, depth=depth + 1)
    if rest:
        raise UsageError(f'{program}: invalid option argument "{rest[0]}" in "{path}"')
    return actions


def apply(actions: Iterable[Action], state: Any) -> None:
    """Run the handlers of scanned options, in order."""
    for action in actions:
        action.option.handler(state, action.name, action.values)


# Handlers for commands whose state is a plain map of option values.


def store_flag(key: str) -> Handler:
    """The option was given: ``state[key] = True``."""

    def handler(state: dict[str, Any], name: str, values: list[str]) -> None:
        state[key] = True

    return handler


def store_text(key: str) -> Handler:
    """``state[key]`` = the option's argument (the last one given wins)."""

    def handler(state: dict[str, Any], name: str, values: list[str]) -> None:
        state[key] = values[0]

    return handler


def store_items(key: str) -> Handler:
    """The comma-separated items of the arguments, added to the list ``state[key]``."""

    def handler(state: dict[str, Any], name: str, values: list[str]) -> None:
        state.setdefault(key, []).extend(item for value in values for item in value.split(",") if item)

    return handler


def client_error(exc: UsageError, table: OptionTable, *, with_usage: bool = False) -> UsageError:
    """A refusal worded as SGE 8.1.9's qrstat, qrdel and qquota word theirs: ``error: ...``
    instead of ``PROGRAM: ...`` (a message without that prefix as it is), after the usage for
    those that print it first, exit code 1."""
    prefix = f"{table.program}: "
    text = "error: " + exc.message[len(prefix):] if exc.message.startswith(prefix) else exc.message
    error = UsageError(f"{table.usage()}{text}" if with_usage else text)
    error.exit_code = 1
    return error


def parse(argv: Sequence[str], table: OptionTable, state: Any) -> list[str]:
    """Scan and apply ``argv``; the operands are returned."""
    actions, operands = scan(argv, table)
    apply(actions, state)
    return operands


# --------------------------------------------------------------------------- words and values


def bad_value(program: str, name: str, value: str, why: str = "") -> UsageError:
    """A refused option argument, in Grid Engine's wording (with the reason after it)."""
    tail = f": {why}" if why else ""
    return UsageError(f'{program}: invalid option argument "{name} {value}"{tail}')


def checked(parse: Callable[[str], _T], program: str, name: str, value: str, shown: str = "") -> _T:
    """Run a value parser of qsys.grammar, its error worded as a usage error."""
    try:
        return parse(value)
    except QsysError as exc:
        raise bad_value(program, name, shown or value, exc.message) from None


def comma_list(program: str, name: str, value: str) -> list[str]:
    """``a,b,c`` with blanks around items removed; an empty item is an error."""
    items = [item.strip() for item in value.split(",")]
    if not all(items):
        raise bad_value(program, name, value, "empty list element")
    return items


_SHELL_WORDS = None  # the compiled pattern of split_words, built on first use


def split_words(text: str, program: str, origin: str) -> list[str]:
    """Words of an option file or a ``#$`` line, as shlex.split(text, comments=True) makes
    them: blanks separate, quotes group, a backslash escapes, ``#`` starts a comment (also
    inside a word, as Grid Engine reads directives).

    shlex builds each word a character at a time (quadratic in its length: a 1 MB ``-N``
    took 15 s); this takes whole runs of characters, so the time is linear.
    """
    global _SHELL_WORDS
    if _SHELL_WORDS is None:
        import re  # only for option files and scripts: a plain qsub -b y never needs it

        _SHELL_WORDS = re.compile(
            r"""(?P<blank>[ \t\r\n]+)
              | (?P<comment>\#[^\n]*)
              | '(?P<single>[^']*)'
              | "(?P<double>[^"\\]*(?:\\.[^"\\]*)*)"
              | \\(?P<escaped>.)
              | (?P<plain>[^ \t\r\n'"\\\#]+)
              | (?P<open>['"\\])""",
            re.VERBOSE | re.DOTALL,
        )
    words: list[str] = []
    parts: list[str] = []
    quoted = False  # an empty '' or "" is still a word
    for match in _SHELL_WORDS.finditer(text):
        kind = match.lastgroup or ""
        if kind in ("blank", "comment"):
            if parts or quoted:
                words.append("".join(parts))
                parts, quoted = [], False
            continue
        if kind == "open":
            why = "no escaped character" if match.group() == "\\" else "no closing quotation"
            raise UsageError(f'{program}: error: cannot parse "{origin}": {why}')
        value = match.group(kind)
        if kind == "double" and "\\" in value:
            value = _unescape_double(value)
        quoted = quoted or kind in ("single", "double")
        parts.append(value)
    if parts or quoted:
        words.append("".join(parts))
    return words


def _unescape_double(text: str) -> str:
    r"""Inside double quotes a backslash escapes only ``"`` and ``\`` (POSIX, as shlex)."""
    out: list[str] = []
    start = 0
    while True:
        at = text.find("\\", start)
        if at < 0 or at + 1 >= len(text):
            out.append(text[start:])
            return "".join(out)
        following = text[at + 1]
        out.append(text[start:at] if following in '"\\' else text[start:at + 2])
        if following in '"\\':
            out.append(following)
        start = at + 2
