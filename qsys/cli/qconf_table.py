"""qconf's options as data: each option is an operation of the generic object path on one
kind, and the shape of its arguments. ``qsys.cli.qconf`` reads this table; adding an option
is adding a row.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Option:
    op: str  # show | list | add | modify | delete | attr | edit_add | edit_modify | users_add | users_del
    kind: str
    args: str  # none | name | names | opt | file | file_opt | attr | users


def _rows() -> dict[str, Option]:
    rows: dict[str, Option] = {}

    def add(option: str, op: str, kind: str, args: str) -> None:
        rows[option] = Option(op, kind, args)

    # kind: (suffix, show arg, list option, editor-add arg)
    keyed = {"queue": ("q", "opt", "-sql", "opt"), "exechost": ("e", "names", "-sel", "opt"),
             "hostgroup": ("hgrp", "names", "-shgrpl", "name"), "pe": ("p", "names", "-spl", "name"),
             "calendar": ("cal", "names", "-scall", "name")}
    for kind, (suffix, show, listing, new) in keyed.items():
        add(f"-s{suffix}", "show", kind, show)
        add(listing, "list", kind, "none")
        add(f"-a{suffix}", "edit_add", kind, new)
        add(f"-A{suffix}", "add", kind, "file")
        add(f"-m{suffix}", "edit_modify", kind, "name")
        add(f"-M{suffix}", "modify", kind, "file")
        add(f"-d{suffix}", "delete", kind, "names")
    add("-sconf", "show", "conf", "opt")
    add("-sconfl", "list", "conf", "none")
    add("-aconf", "edit_add", "conf", "name")
    add("-Aconf", "add", "conf", "file_opt")
    add("-mconf", "edit_modify", "conf", "opt")
    add("-Mconf", "modify", "conf", "file_opt")
    add("-dconf", "delete", "conf", "names")
    add("-sc", "show", "complex", "none")
    add("-mc", "edit_modify", "complex", "none")
    add("-Mc", "modify", "complex", "file")
    add("-ssconf", "show", "sconf", "none")
    add("-msconf", "edit_modify", "sconf", "none")
    add("-Msconf", "modify", "sconf", "file")
    add("-su", "show", "userset", "names")
    add("-sul", "list", "userset", "none")
    add("-au", "users_add", "userset", "users")
    add("-du", "users_del", "userset", "users")
    add("-Au", "add", "userset", "file")
    add("-mu", "edit_modify", "userset", "name")
    add("-Mu", "modify", "userset", "file")
    add("-dul", "delete", "userset", "names")
    for letter, kind in (("m", "manager"), ("o", "operator"), ("h", "adminhost"), ("s", "submithost")):
        add(f"-s{letter}", "list", kind, "none")
        add(f"-a{letter}", "add", kind, "names")
        add(f"-d{letter}", "delete", kind, "names")
    for mode in ("mattr", "rattr", "aattr", "dattr"):
        add(f"-{mode}", "attr", mode, "attr")
    return rows


OPTIONS: dict[str, Option] = _rows()

# the object names -*attr take, as Grid Engine spells them
ATTR_KINDS = {"queue": "queue", "exechost": "exechost", "hostgroup": "hostgroup", "pe": "pe",
              "userset": "userset", "calendar": "calendar"}
