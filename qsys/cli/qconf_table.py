"""qconf's options as data: each option is an operation of the generic object path on one
kind, the shape of its arguments and its help line. ``qsys.cli.qconf`` turns the rows into
its option table; adding an option is adding a row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Operation:
    op: str  # show | list | add | modify | delete | attr | edit_add | edit_modify | users_add | users_del
    kind: str
    args: str  # the argument words of the synopsis ("" for none; [word] is optional)
    help: str


# kind: (option suffix, noun of its help lines, argument word, list option)
_KEYED = {
    "queue": ("q", "cluster queue", "queue", "-sql"),
    "exechost": ("e", "exec host", "host", "-sel"),
    "hostgroup": ("hgrp", "host group", "group", "-shgrpl"),
    "pe": ("p", "parallel environment", "pe_name", "-spl"),
    "calendar": ("cal", "calendar", "calendar_name", "-scall"),
    "user": ("user", "user", "user", "-suserl"),
    "project": ("prj", "project", "project", "-sprjl"),
    "ckpt": ("ckpt", "checkpointing interface", "ckpt_name", "-sckptl"),
}


def _rows() -> dict[str, Operation]:
    rows: dict[str, Operation] = {}

    def add(option: str, op: str, kind: str, args: str, help: str) -> None:
        rows[option] = Operation(op, kind, args, help)

    for kind, (suffix, noun, word, listing) in _KEYED.items():
        plural = f"{word}_list"
        one = f"an {noun}" if noun[0] in "aeiou" else f"a {noun}"
        optional_show = kind == "queue"
        add(f"-s{suffix}", "show", kind, f"[{plural}]" if optional_show else plural,
            f"show {noun}s" + (" (all without a list)" if optional_show else ""))
        add(listing, "list", kind, "", f"list the {noun} names")
        add(f"-a{suffix}", "edit_add", kind, f"[{word}]" if kind in ("queue", "exechost", "project") else word,
            f"add {one} with $EDITOR")
        add(f"-A{suffix}", "add", kind, "file", f"add {one} from a file")
        add(f"-m{suffix}", "edit_modify", kind, word, f"change {one} with $EDITOR")
        add(f"-M{suffix}", "modify", kind, "file", f"change {one} from a file")
        add(f"-d{suffix}", "delete", kind, plural, f"delete {noun}s")
    add("-sconf", "show", "conf", "[host]", "show the global (or a host's) configuration")
    add("-sconfl", "list", "conf", "", "list the hosts with a local configuration")
    add("-aconf", "edit_add", "conf", "host", "add a host's local configuration with $EDITOR")
    add("-Aconf", "add", "conf", "file [host]", "add a local configuration from a file")
    add("-mconf", "edit_modify", "conf", "[host]", "change the global (or a host's) configuration with $EDITOR")
    add("-Mconf", "modify", "conf", "file [host]", "change a configuration from a file")
    add("-dconf", "delete", "conf", "host_list", "delete local configurations")
    add("-sc", "show", "complex", "", "show the complex attributes")
    add("-mc", "edit_modify", "complex", "", "change the complex attributes with $EDITOR")
    add("-Mc", "modify", "complex", "file", "change the complex attributes from a file")
    add("-ssconf", "show", "sconf", "", "show the scheduler configuration")
    add("-msconf", "edit_modify", "sconf", "", "change the scheduler configuration with $EDITOR")
    add("-Msconf", "modify", "sconf", "file", "change the scheduler configuration from a file")
    add("-su", "show", "userset", "set_list", "show access lists")
    add("-sul", "list", "userset", "", "list the access list names")
    add("-au", "users_add", "userset", "user_list set_list", "add users to access lists")
    add("-du", "users_del", "userset", "user_list set_list", "delete users from access lists")
    add("-Au", "add", "userset", "file", "add an access list from a file")
    add("-mu", "edit_modify", "userset", "set", "change an access list with $EDITOR")
    add("-Mu", "modify", "userset", "file", "change an access list from a file")
    add("-dul", "delete", "userset", "set_list", "delete access lists")
    for letter, kind, noun in (("m", "manager", "managers"), ("o", "operator", "operators"),
                               ("h", "adminhost", "administrative hosts"), ("s", "submithost", "submit hosts")):
        word = "host_list" if kind.endswith("host") else "user_list"
        add(f"-s{letter}", "list", kind, "", f"list the {noun}")
        add(f"-a{letter}", "add", kind, word, f"add {noun}")
        add(f"-d{letter}", "delete", kind, word, f"delete {noun}")
    _policy_rows(add)
    for mode, verb in (("mattr", "change"), ("rattr", "replace"), ("aattr", "add to"), ("dattr", "delete from")):
        add(f"-{mode}", "attr", mode, "obj_nm attr_nm value obj_id_list", f"{verb} an attribute of objects")
    add("-purge", "purge", "purge", "obj_nm attr_nm obj_spec", "remove the per-host values of queue@host")
    return rows


def _policy_rows(add: Callable[[str, str, str, str, str], None]) -> None:
    """Resource quota sets, the share tree and its nodes."""
    add("-srqs", "show", "rqs", "[rqs_list]", "show resource quota sets (all without a list)")
    add("-srqsl", "list", "rqs", "", "list the resource quota set names")
    add("-arqs", "edit_add", "rqs", "[rqs_name]", "add a resource quota set with $EDITOR")
    add("-Arqs", "add", "rqs", "file", "add resource quota sets from a file")
    add("-mrqs", "edit_modify", "rqs", "[rqs_name]", "change a resource quota set (all without a name) with $EDITOR")
    add("-Mrqs", "modify", "rqs", "file [rqs_name]", "change a resource quota set (replace all without a name)")
    add("-drqs", "delete", "rqs", "rqs_list", "delete resource quota sets")
    add("-sstree", "show", "sharetree", "", "show the share tree")
    add("-sst", "show_tree", "sharetree", "", "show the share tree indented")
    add("-astree", "edit_add", "sharetree", "", "add the share tree with $EDITOR")
    add("-Astree", "add", "sharetree", "file", "add the share tree from a file")
    add("-mstree", "edit_modify", "sharetree", "", "change the share tree with $EDITOR")
    add("-Mstree", "modify", "sharetree", "file", "change the share tree from a file")
    add("-dstree", "delete", "sharetree", "", "delete the share tree")
    add("-astnode", "nodes", "sharetree", "node_shares_list", "add share tree nodes (path=shares,...)")
    add("-mstnode", "nodes", "sharetree", "node_shares_list", "change the shares of share tree nodes")
    add("-dstnode", "nodes", "sharetree", "node_list", "delete share tree nodes")
    add("-sstnode", "show_tree", "sharetree", "node_list", "show share tree nodes")


OPERATIONS: dict[str, Operation] = _rows()

# the object names -*attr take, as Grid Engine spells them
ATTR_KINDS = {"queue": "queue", "exechost": "exechost", "hostgroup": "hostgroup", "pe": "pe",
              "userset": "userset", "calendar": "calendar", "ckpt": "ckpt", "project": "project"}
