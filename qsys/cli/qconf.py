"""qconf: show and change the cluster's configuration objects.

Every option is a row of :mod:`qsys.cli.qconf_table` (an operation on one kind); the master's
generic object path does the work. ``-a*``/``-m*`` open ``$EDITOR`` (default vi) on a new
or the current text, as Grid Engine does; ``-A*``/``-M*`` read a file; ``--json`` prints
what ``-s*`` shows as JSON (our addition).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from typing import Any

from qsys.cli.common import run, write
from qsys.cli.engine import HELP, Option, OptionTable, parse
from qsys.cli.qconf_table import ATTR_KINDS, OPERATIONS, Operation
from qsys.errors import QsysError, UsageError

# for "... not modified" after an editor session that changed nothing
LABELS = {"conf": "configuration", "queue": "cluster queue", "exechost": "exechost",
          "hostgroup": "host group", "pe": "parallel environment", "userset": "userset",
          "calendar": "calendar", "complex": "complex entry list", "sconf": "scheduler configuration",
          "user": "user", "rqs": "resource quota set", "sharetree": "sharetree"}
_NAME_LISTS = ("manager", "operator", "adminhost", "submithost")  # -am/-ao/-ah/-as take names


class _Request:
    """The operations of one qconf command line, in order, and whether --json was given."""

    __slots__ = ("as_json", "operations")

    def __init__(self) -> None:
        self.operations: list[tuple[str, Operation, list[str]]] = []
        self.as_json = False


def _operation(state: _Request, name: str, values: list[str]) -> None:
    state.operations.append((name, OPERATIONS[name], values))


def _json(state: _Request, name: str, values: list[str]) -> None:
    state.as_json = True


QCONF_OPTIONS = OptionTable("qconf", [
    HELP,
    *(Option(f"{name} {row.args}", row.help, _operation) for name, row in OPERATIONS.items()),
    Option("--json", "show as JSON what -s* shows (qsys)", _json),
    Option("-json", None, _json),
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


def _lines(reply: dict[str, Any]) -> int:
    for line in reply.get("lines", []):
        write(line)
    return int(reply.get("exit", 0))


def _one(client: Any, option: str, row: Operation, args: list[str], as_json: bool) -> int:
    op, kind = row.op, row.kind
    if op == "show":
        names = [n for a in args for n in a.split(",") if n] or [""]
        if kind == "queue" and names == [""]:
            names = client.conf_list("queue")
        shown = [client.conf_show(kind, name) for name in names]
        if as_json:
            data = [s["data"] for s in shown]
            write(json.dumps(data[0] if len(data) == 1 else data, indent=2))
        else:
            sys.stdout.write("".join(s["text"] for s in shown))
        return 0
    if op == "list":
        names = client.conf_list(kind)
        write(json.dumps(names) if as_json else "\n".join(names))
        return 0
    if op == "add" and kind in _NAME_LISTS:
        return _lines(client.conf(op, kind, args[0]))
    if op in ("add", "modify"):
        text = _read(args[0])
        return _lines(client.conf(op, kind, args[1] if len(args) > 1 else "", text))
    if op == "delete":
        return _lines(client.conf("delete", kind, args[0] if args else ""))
    if op == "show_tree":  # -sst, -sstnode
        sys.stdout.write(client.conf("show", kind, args[0] if args else "", mode=option[1:]).text)
        return 0
    if op == "nodes":  # -astnode, -mstnode, -dstnode
        return _lines(client.conf("nodes", kind, args[0], mode=option[1:]))
    if op == "edit_add":
        name = args[0] if args else "template"
        template = client.conf("template", kind, name)["text"]
        return _lines(client.conf("add", kind, name, _edit(template)))
    if op == "edit_modify":
        name = args[0] if args else ""
        old = client.conf_show(kind, name)["text"]
        new = _edit(old)
        if new == old:
            write(f'{LABELS[kind]} "{name or kind}" not modified' if kind not in ("complex", "sconf", "sharetree")
                  else f"{LABELS[kind]} not modified")
            return 0
        return _lines(client.conf("modify", kind, name, new))
    if op in ("users_add", "users_del"):
        return _users(client, op, args[0], args[1])
    if op == "attr":
        target, attr, value, objects = args
        target_kind = ATTR_KINDS.get(target)
        if target_kind is None:
            raise UsageError(f'error: "{target}" is not an object -{kind} can change')
        return _lines(client.conf("attr", target_kind, "", mode=kind, attr=attr, value=value,
                                  objects=[o for o in objects.split(",") if o]))
    raise UsageError(f"error: {option} is not supported")


def _users(client: Any, op: str, users: str, sets: str) -> int:
    """-au/-du: add users to (or remove them from) access lists, creating a missing list."""
    status = 0
    names = [u for u in users.split(",") if u]
    for acl in [s for s in sets.split(",") if s]:
        known = True
        try:
            client.conf_show("userset", acl)
        except QsysError:
            known = False
        if op == "users_add" and not known:
            text = f"name {acl}\ntype ACL\nfshare 0\noticket 0\nentries {','.join(names)}\n"
            reply = client.conf("add", "userset", acl, text)
        else:
            mode = "aattr" if op == "users_add" else "dattr"
            reply = client.conf("attr", "userset", "", mode=mode, attr="entries", value=",".join(names),
                                objects=[acl])
        if reply.get("exit"):
            status = _lines(reply)
            continue
        for user in names:
            write(f'added "{user}" to access list "{acl}"' if op == "users_add"
                  else f'deleted user "{user}" from access list "{acl}"')
    return status


def _body(argv: list[str]) -> int:
    from qsys.client import Client

    request = _parse(argv)
    status = 0
    with Client() as client:
        for option, row, args in request.operations:
            status = max(status, _one(client, option, row, args, request.as_json))
    return status


def main(argv: list[str] | None = None) -> int:
    return run("qconf", _body, argv)


if __name__ == "__main__":
    sys.exit(main())
