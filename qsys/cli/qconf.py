"""qconf: show and change the cluster's configuration objects.

Every option is a row of :mod:`qsys.cli.qconf_table` (an operation on one kind); the master's
generic object path does the work. ``-a*``/``-m*`` open ``$EDITOR`` (default vi) on a new
or the current text, as Grid Engine does; ``-A*``/``-M*`` read a file; ``--json`` prints the
results as JSON (our addition): the objects ``-s*`` shows (text and attributes), the names of
``-s*l``, the lines of a change; one document per command line.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from typing import Any

from qsys.cli.common import run, write
from qsys.cli.engine import HELP, JSON, Option, OptionTable, output_form, parse
from qsys.cli.jsonout import print_json
from qsys.cli.qconf_table import ATTR_KINDS, OPERATIONS, Operation
from qsys.errors import QsysError, UsageError
from qsys.protocol import Lines, Names

# What Grid Engine says when an editor session (-a*/-m*) changed nothing: (message, exit code,
# on stdout). A kind missing here is sent as it is: SGE adds the template of -aq/-ahgrp and
# "modifies" the queue of an unchanged -mq.
_UNCHANGED_FILE = ("file unchanged", 1, False)
_UNCHANGED_ADD = {kind: _UNCHANGED_FILE for kind in ("project", "pe", "calendar", "ckpt", "exechost", "user", "rqs")}
_UNCHANGED_ADD["conf"] = ("configuration unchanged", 1, False)
_UNCHANGED_MODIFY = {kind: _UNCHANGED_FILE for kind in ("project", "pe", "calendar", "ckpt", "exechost", "sconf")}
_UNCHANGED_MODIFY.update({"conf": ("configuration unchanged", 1, False),
                          "hostgroup": ("Object has not been changed", 1, False),
                          "userset": ("file unchanged", 0, True),
                          "complex": ("Complex attribute configuration has not been changed", 0, False)})
# kinds whose unchanged -m* session is not compared with Grid Engine yet: "... not modified"
LABELS = {"user": "user", "rqs": "resource quota set", "sharetree": "sharetree"}
_NAME_LISTS = ("manager", "operator", "adminhost", "submithost")  # -am/-ao/-ah/-as take names


class _Request:
    """The operations of one qconf command line, in order, and the output form (--json)."""

    __slots__ = ("form", "operations")

    def __init__(self) -> None:
        self.operations: list[tuple[str, Operation, list[str]]] = []
        self.form = ""


def _operation(state: _Request, name: str, values: list[str]) -> None:
    state.operations.append((name, OPERATIONS[name], values))


QCONF_OPTIONS = OptionTable("qconf", [
    HELP,
    *(Option(f"{name} {row.args}", row.help, _operation) for name, row in OPERATIONS.items()),
    JSON,
    Option("-json", None, output_form),
], usage_on_error=True)


def _parse(argv: list[str]) -> _Request:
    request = _Request()
    parse(argv, QCONF_OPTIONS, request)
    if not request.operations:
        raise UsageError(QCONF_OPTIONS.usage().rstrip())
    return request


def _read(path: str) -> str:
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise QsysError(f'error: cannot read file "{path}": {exc.strerror}') from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise QsysError(f'error: file "{path}", line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x})') from None


def _edit(text: str) -> str:
    """The text after the user's $EDITOR session (Grid Engine's -a*/-m* behaviour)."""
    editor = os.environ.get("EDITOR") or "vi"
    with tempfile.NamedTemporaryFile("w", suffix=".qconf", delete=False, encoding="utf-8") as fh:
        fh.write(text)
        path = fh.name
    try:
        status = subprocess.call(f'{editor} "{path}"', shell=True)
        if status != 0:
            raise QsysError(f"error: the editor {editor} failed (exit status {status})")
        return _read(path)
    finally:
        os.unlink(path)


Result = Any  # ConfText (one object), list[ConfText], Names, or Lines (a change)


def _one(client: Any, option: str, row: Operation, args: list[str]) -> Result:
    """What one operation gives: the objects it shows or the lines of the change it made."""
    op, kind = row.op, row.kind
    if op == "show":
        names = [n for a in args for n in a.split(",") if n] or [""]
        if kind == "queue" and names == [""]:
            names = client.conf_list("queue")
        shown = [client.conf_show(kind, name) for name in names]
        return shown[0] if len(shown) == 1 else shown
    if op == "list":
        return Names(client.conf_list(kind))
    if op == "add" and kind in _NAME_LISTS:
        return client.conf(op, kind, args[0])
    if op in ("add", "modify"):
        text = _read(args[0])
        return client.conf(op, kind, args[1] if len(args) > 1 else "", text)
    if op == "delete":
        return client.conf("delete", kind, args[0] if args else "")
    if op == "show_tree":  # -sst, -sstnode
        return client.tree_view(kind, option[1:], args[0] if args else "")
    if op == "nodes":  # -astnode, -mstnode, -dstnode
        return client.conf("nodes", kind, args[0], mode=option[1:])
    if op in ("edit_add", "edit_modify"):
        adding = op == "edit_add"
        name = args[0] if args else ("template" if adding else "")
        old = client.conf("template", kind, name).text if adding else client.conf_show(kind, name).text
        new = _edit(old)
        unchanged = (_UNCHANGED_ADD if adding else _UNCHANGED_MODIFY).get(kind)
        if new == old and unchanged is not None:
            return _unchanged(*unchanged)
        if new == old and not adding and kind in LABELS:
            return Lines([f"{LABELS[kind]} not modified" if kind == "sharetree"
                          else f'{LABELS[kind]} "{name or kind}" not modified'])
        return client.conf("add" if adding else "modify", kind, name, new)
    if op in ("users_add", "users_del"):
        return _users(client, op, args[0], args[1])
    if op in ("attr", "purge"):
        target, attr, value, objects = args if op == "attr" else (args[0], args[1], "", args[2])
        target_kind = ATTR_KINDS.get(target)
        if target_kind is None:
            raise UsageError(f'error: "{target}" is not an object -{kind} can change')
        return client.conf("attr", target_kind, "", mode=kind, attr=attr, value=value,
                           objects=[o for o in objects.split(",") if o])
    raise UsageError(f"error: {option} is not supported")


class StdoutLines(Lines):
    """A reply Grid Engine's qconf prints on stdout although it is no -*attr answer."""


def _unchanged(message: str, code: int, on_stdout: bool) -> Lines:
    """Grid Engine's answer to an editor session that changed nothing."""
    if on_stdout:
        return StdoutLines([message], code)
    error = QsysError(message)
    error.exit_code = code
    raise error


def _users(client: Any, op: str, users: str, sets: str) -> Lines:
    """-au/-du: add users to (or remove them from) access lists, creating a missing list."""
    lines: list[str] = []
    status = 0
    names = [u for u in users.split(",") if u]
    for acl in [s for s in sets.split(",") if s]:
        known = True
        try:
            client.conf_show("userset", acl)
        except QsysError:
            known = False
        if op == "users_del" and not known:
            lines.append(f'access list "{acl}" doesn\'t exist')  # Grid Engine's words for -du
            status = 1
            continue
        if op == "users_add" and not known:
            text = f"name {acl}\ntype ACL\nfshare 0\noticket 0\nentries {','.join(names)}\n"
            reply = client.conf("add", "userset", acl, text)
        else:
            mode = "aattr" if op == "users_add" else "dattr"
            reply = client.conf("attr", "userset", "", mode=mode, attr="entries", value=",".join(names),
                                objects=[acl])
        if reply.exit:
            lines += reply.lines
            status = max(status, reply.exit)
            continue
        lines += [f'added "{user}" to access list "{acl}"' if op == "users_add"
                  else f'deleted user "{user}" from access list "{acl}"' for user in names]
    return Lines(lines, status)


# Grid Engine 8.1.9's qconf prints the master's answers to a change on stderr (show_answer_list),
# except -mattr/-rattr/-aattr/-dattr/-purge (answer_list_print_err_warn: errors on stderr, the
# rest on stdout) and a successful -arqs/-Arqs/-auser/-Auser (stdout).
_ATTR_OPS = ("attr", "purge")
_REFUSALS = ("denied:", "error:", "Attribute name (")  # the error answers of -*attr/-purge
_ADDED_ON_STDOUT = ("rqs", "user")


def _on_stdout(row: Operation, result: Lines, line: str) -> bool:
    """Whether Grid Engine's qconf prints this line of a change's reply on stdout."""
    if isinstance(result, StdoutLines):
        return True
    if row.op in _ATTR_OPS:
        return not line.startswith(_REFUSALS)
    return row.op in ("add", "edit_add") and row.kind in _ADDED_ON_STDOUT and result.exit == 0


def _print_text(result: Result, row: Operation) -> int:
    """An operation's result as Grid Engine's qconf prints it; its exit code."""
    if isinstance(result, Lines):
        for line in result.lines:
            if _on_stdout(row, result, line):
                write(line)
            else:
                print(line, file=sys.stderr)
        return result.exit
    if isinstance(result, Names):
        write("\n".join(result.names))
    else:
        sys.stdout.write("".join(s.text for s in (result if isinstance(result, list) else [result])))
    return 0


def _body(argv: list[str]) -> int:
    from qsys.client import Client

    request = _parse(argv)
    results = []
    with Client() as client:
        for option, row, args in request.operations:
            result = _one(client, option, row, args)
            if request.form == "json":
                results.append(result)
            else:
                results.append(_print_text(result, row))
    if request.form != "json":
        return max(results)
    # one document: the result of the one operation, or the list of them all
    print_json(results[0] if len(results) == 1 else results)
    return max((r.exit for r in results if isinstance(r, Lines)), default=0)


def main(argv: list[str] | None = None) -> int:
    return run("qconf", _body, argv)


if __name__ == "__main__":
    sys.exit(main())
