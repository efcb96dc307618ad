"""The policies' configuration objects on the generic object path: users, the share tree,
resource quota sets, and the checks that tie them (and resource maps) to the rest.

:mod:`qsys.master.objects` asks :func:`checked` for every object it is about to store, and
routes the operations Grid Engine words differently for these kinds to :data:`OPERATIONS`:
a quota set file may hold several sets (``-Arqs``, and ``-Mrqs`` without a name replaces
them all), the share tree is one object that is added, changed and removed whole, and its
nodes are edited by path (``-astnode``, ``-mstnode``, ``-dstnode``, ``-sstnode``, ``-sst``).
A refused object changes nothing: every check runs before the store sees it.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from qsys import protocol
from qsys.errors import InvalidRequest, NotFound
from qsys.master.config import SHARE_TREE
from qsys.objects import ResourceQuotaSet, ShareTree, format_text, parse_quota_sets, to_wire
from qsys.objects.resource_map import normalize_maps
from qsys.objects.sharetree import parse_node_shares, split_path

if TYPE_CHECKING:
    from qsys.master.config import ClusterConfig
    from qsys.master.identity import Identity
    from qsys.master.objects import ConfRequests

NO_TREE = "no sharetree element"
NO_TREE_VIEW = "No sharetree"  # what -sst and the node commands say instead
NO_QUOTA_SET = "No resource quota set found"


def checked(config: ClusterConfig, kind: str, obj: Any) -> Any:
    """``obj`` as it may be stored (resource maps in their long form), or InvalidRequest
    with Grid Engine's reason: a share tree naming no known user or project, a quota limit
    on an unknown complex, a resource map on a queue. (A user in two departments is taken
    as Grid Engine 8.1.9 takes it: ``qconf -Au`` accepts it, the first department counts.)"""
    try:
        if kind == "exechost" and obj.complex_values:
            return replace(obj, complex_values=normalize_maps(obj.complex_values, config.complex_list))
        if kind == "queue":
            for table in (obj.complex_values, *obj.overrides.get("complex_values", {}).values()):
                normalize_maps(table, config.complex_list, queue=True)
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None
    if kind == SHARE_TREE:
        tree = copy.deepcopy(obj)
        tree.resolve(known_users(config), set(config.projects))
        return tree
    if kind == "rqs":
        obj.check_complexes(config.complex_list)
    return obj


def known_users(config: ClusterConfig) -> set[str]:
    """Who a share tree may name: user objects (``qconf -auser``, or made on a first
    submission with ``enforce_user auto``)."""
    return set(config.users)


# ---------------------------------------------------------------- quota sets


async def _rqs_add(requests: ConfRequests, who: Identity, msg: protocol.ConfRequest) -> protocol.Lines:
    """``-Arqs``/``-arqs``: every set of the text, each refused if its name is taken."""
    config = requests.state.config
    sets = [_rqs_checked(requests, s) for s in parse_quota_sets(requests.utf8(msg.text))]
    if not sets:
        raise InvalidRequest("no resource quota set (a set is enclosed in { })")
    lines, failed = [], False
    for qset in sets:
        if qset.name in config.quota_sets:
            lines.append(f'resource quota set "{qset.name}" already exists')
            failed = True
            continue
        await requests.store("rqs", qset.name, qset)
        lines.append(f'{requests.by(who)} added "{qset.name}" to resource quota set list')
    return protocol.Lines(lines, 1 if failed else 0)


async def _rqs_modify(requests: ConfRequests, who: Identity, msg: protocol.ConfRequest) -> protocol.Lines:
    """``-Mrqs file name`` changes that set; without a name the file replaces every set."""
    config = requests.state.config
    sets = [_rqs_checked(requests, s) for s in parse_quota_sets(requests.utf8(msg.text))]
    if msg.name:
        qset = next((s for s in sets if s.name == msg.name), None)
        if qset is None or msg.name not in config.quota_sets:
            raise NotFound(f'denied: resource quota set "{msg.name}" does not exist')
        await requests.store("rqs", qset.name, qset)
        return protocol.Lines([f'{requests.by(who)} modified "{qset.name}" in resource quota set list'])
    lines = []
    for name in list(config.quota_sets):
        await requests.store("rqs", name, None, delete=True)
        lines.append(f'{requests.by(who)} removed "{name}" from resource quota set list')
    for qset in sets:
        await requests.store("rqs", qset.name, qset)
        lines.append(f'{requests.by(who)} added "{qset.name}" to resource quota set list')
    return protocol.Lines(lines)


def _rqs_checked(requests: ConfRequests, qset: ResourceQuotaSet) -> ResourceQuotaSet:
    requests.check("rqs", qset)
    return checked(requests.state.config, "rqs", qset)


async def _rqs_show(requests: ConfRequests, who: Identity, msg: protocol.ConfRequest) -> protocol.ConfText:
    """``-srqs [names]``: the named sets, or all of them."""
    config = requests.state.config
    names = [n for n in msg.name.replace(",", " ").split() if n] or list(config.quota_sets)
    if not names or any(n not in config.quota_sets for n in names):
        raise NotFound(NO_QUOTA_SET)
    sets = [config.quota_sets[n] for n in names]
    return protocol.ConfText("".join(format_text(s) for s in sets),
                             to_wire(sets[0]) if len(sets) == 1 else {"sets": [to_wire(s) for s in sets]})


# ---------------------------------------------------------------- the share tree


async def _tree_show(requests: ConfRequests, who: Identity,
                     msg: protocol.ConfRequest) -> protocol.ConfText | protocol.Lines:
    """``-sstree``; ``-sst`` (mode "sst": the tree indented) and ``-sstnode path,...``."""
    tree = requests.state.config.share_tree
    mode = msg.attrs.mode if msg.attrs is not None else ""
    if tree is None and mode in ("sst", "sstnode"):
        return protocol.Lines([NO_TREE_VIEW])  # (Grid Engine's qconf exits 0 here)
    if tree is None:
        raise NotFound(NO_TREE)
    if mode == "sst":
        return protocol.ConfText(tree.formatted())
    if mode == "sstnode":
        lines = [line for path in msg.name.split(",") if path for line in tree.node_lines(path)]
        return protocol.ConfText("".join(line + "\n" for line in lines))
    return protocol.ConfText(format_text(tree), to_wire(tree))


async def _tree_template(requests: ConfRequests, who: Identity, msg: protocol.ConfRequest) -> protocol.ConfText:
    tree = requests.state.config.share_tree or ShareTree()
    return protocol.ConfText(format_text(tree), to_wire(tree))


async def _tree_set(requests: ConfRequests, who: Identity, msg: protocol.ConfRequest) -> protocol.Lines:
    """``-Astree``/``-Mstree`` (and their editor forms): the whole tree, as Grid Engine
    replaces it whether one was there or not."""
    tree = requests.parse(SHARE_TREE, "", msg.text)
    await requests.store(SHARE_TREE, SHARE_TREE, tree)
    return protocol.Lines(["changed sharetree"])


async def _tree_delete(requests: ConfRequests, who: Identity, msg: protocol.ConfRequest) -> protocol.Lines:
    if requests.state.config.share_tree is None:
        raise NotFound("sharetree does not exist")
    await requests.store(SHARE_TREE, SHARE_TREE, None, delete=True)
    return protocol.Lines([f"{requests.by(who)} removed sharetree list"])


async def _nodes(requests: ConfRequests, who: Identity, msg: protocol.ConfRequest) -> protocol.Lines:
    """``-astnode/-mstnode path=shares,...`` and ``-dstnode path,...`` (``msg.attrs.mode``
    says which; ``msg.name`` holds the argument)."""
    config = requests.state.config
    mode = msg.attrs.mode if msg.attrs is not None else ""
    if mode not in ("astnode", "mstnode", "dstnode"):
        raise InvalidRequest(f"unknown share tree operation '{mode}'")
    if mode == "dstnode":
        edits: list[tuple[str, int]] = [(path, 0) for path in msg.name.split(",") if path]
        for path, _ in edits:
            split_path(path)
    else:
        edits = parse_node_shares(msg.name)
    tree = config.share_tree
    if tree is None and mode != "astnode":  # -astnode starts a tree; Grid Engine's exit codes
        return protocol.Lines([NO_TREE_VIEW], 1 if mode == "dstnode" else 0)
    new = copy.deepcopy(tree) if tree is not None else ShareTree()
    lines = ["removing " if mode == "dstnode" else "setting "]
    try:
        for path, shares in edits:
            if mode == "dstnode":
                new.remove_node(path)
                lines.append(path)
            else:
                if mode == "astnode" and new.find(path) is None:
                    new.add_node(path, shares)
                else:
                    new.set_shares(path, shares)
                lines.append(f"{path}={shares}")
        requests.check(SHARE_TREE, new)
        new = checked(config, SHARE_TREE, new)
    except InvalidRequest as exc:
        if mode == "astnode":  # Grid Engine names the node, then the refusal, and exits 0
            return protocol.Lines([*lines, exc.message])
        return protocol.Lines([exc.message, "no modifications to sharetree"], 1)
    await requests.store(SHARE_TREE, SHARE_TREE, new)
    return protocol.Lines([*lines, "modified sharetree"])


Handler = Callable[["ConfRequests", "Identity", protocol.ConfRequest], Awaitable[Any]]

# (operation, kind) -> its handler, where these kinds leave the generic one
OPERATIONS: dict[tuple[str, str], Handler] = {
    ("add", "rqs"): _rqs_add,
    ("modify", "rqs"): _rqs_modify,
    ("show", "rqs"): _rqs_show,
    ("show", SHARE_TREE): _tree_show,
    ("template", SHARE_TREE): _tree_template,
    ("add", SHARE_TREE): _tree_set,
    ("modify", SHARE_TREE): _tree_set,
    ("delete", SHARE_TREE): _tree_delete,
    ("nodes", SHARE_TREE): _nodes,
}
