"""The share tree (``qconf -sstree``): long-term entitlements of users and projects, and of
groups of them, for the share-tree ticket policy.

Text form: one record per node, each starting with ``id=``::

    id=0
    name=Root
    type=0
    shares=1
    childnodes=1,2

Grid Engine prints the records depth first and numbers them again in that order; a file read
here may list them in any order, as long as every child it names is defined exactly once.
Nodes are addressed by paths (``/projA/default``, or ``projA.default``) in ``-sstnode``,
``-astnode``, ``-mstnode`` and ``-dstnode``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from qsys.errors import InvalidRequest
from qsys.objects.base import ConfigObject, logical_lines

USER = 0
PROJECT = 1
DEFAULT_NODE = "default"  # stands for every user without a node of their own
_FIELDS = ("id", "name", "type", "shares", "childnodes")


@dataclass
class ShareNode:
    name: str
    shares: int
    type: int = USER  # PROJECT for a project's node
    children: list[ShareNode] = field(default_factory=list)

    def child(self, name: str) -> ShareNode | None:
        return next((c for c in self.children if c.name == name), None)

    def walk(self, path: str = "") -> Iterator[tuple[str, ShareNode]]:
        """(path, node) for this node and its descendants, depth first."""
        yield path or "/", self
        for child in self.children:
            yield from child.walk(f"{path}/{child.name}")


# ---------------------------------------------------------------- node paths


def split_path(path: str) -> list[str]:
    """The node names of ``/a/b`` (or ``a.b``); the root is ``/`` (no names)."""
    text = path.strip()
    parts = text.split("/") if "/" in text else text.split(".")
    names = [part for part in parts if part]
    if any(not name.strip() or "=" in name for name in names):
        raise InvalidRequest(f'"{path}" is not a valid node path')
    return names


def parse_node_shares(text: str) -> list[tuple[str, int]]:
    """``/A=10,/A/B=5`` (-astnode/-mstnode) as (path, shares) pairs."""
    out = []
    for item in (part.strip() for part in text.split(",")):
        path, eq, shares = item.partition("=")
        if not item or not eq or not path or not shares.isdigit():
            raise InvalidRequest(f"{item} is not a valid argument, see node_shares_list format")
        split_path(path)
        out.append((path, int(shares)))
    return out


def path_text(names: list[str]) -> str:
    return "/" + "/".join(names)


# ---------------------------------------------------------------- the text form


class ShareTreeLayout:
    """The record layout of ``qconf -sstree`` (id/name/type/shares/childnodes)."""

    def parse(self, cls: type[Any], text: str) -> Any:
        records: list[dict[str, Any]] = []
        for number, line in logical_lines(text):
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            name, eq, value = stripped.partition("=")
            name, value = name.strip(), value.strip()
            where = f"line {number}: "
            if not eq or name not in _FIELDS:
                raise InvalidRequest(f"{where}unknown attribute '{name}'")
            if name == "id":
                records.append({"line": number})
            elif not records:
                raise InvalidRequest(f"{where}{name}: comes before the first id")
            record = records[-1]
            if name in record:
                raise InvalidRequest(f"{where}{name}: given twice")
            record[name] = _field(name, value, where)
        if not records:
            raise InvalidRequest("required attribute 'id' is missing")
        return cls(root=_build(records))

    def format(self, obj: Any) -> str:
        return "".join(f"{k}={v}\n" for record in _records(obj.root) for k, v in record.items())

    def to_wire(self, obj: Any) -> dict[str, Any]:
        return {"nodes": _records(obj.root)}

    def from_wire(self, cls: type[Any], data: dict[str, Any], name: str | None) -> Any:
        records = []
        for index, item in enumerate(data.get("nodes", []), 1):
            where = f"node {index}: "
            records.append({"line": index, **{k: _field(k, str(v), where) for k, v in item.items()
                                               if k in _FIELDS}})
        if not records:
            raise InvalidRequest("required attribute 'id' is missing")
        return cls(root=_build(records))


def _field(name: str, value: str, where: str) -> Any:
    if name == "name":
        if not value or any(c in value for c in " \t,=/"):
            raise InvalidRequest(f"{where}name: '{value}' is not a valid node name")
        return value
    if name == "childnodes":
        if value.upper() == "NONE":
            return []
        items = [item.strip() for item in value.split(",")]
        if not all(item.isdigit() for item in items):
            raise InvalidRequest(f"{where}childnodes: '{value}' is not a list of node ids")
        return [int(item) for item in items]
    if not value.isdigit():
        reason = f"{value} is below 0" if value.startswith("-") and value[1:].isdigit() else \
            f"'{value}' is not a number"
        raise InvalidRequest(f"{where}{name}: {reason}")
    number = int(value)
    if name == "type" and number not in (USER, PROJECT):
        raise InvalidRequest(f"{where}type: {number} is not 0 (user) or 1 (project)")
    return number


def _build(records: list[dict[str, Any]]) -> ShareNode:
    """The tree the records describe; the first record is the root."""
    by_id: dict[int, dict[str, Any]] = {}
    for record in records:
        for required in ("name", "shares"):
            if required not in record:
                raise InvalidRequest(f"line {record['line']}: required attribute '{required}' is missing")
        if record["id"] in by_id:
            raise InvalidRequest(f"line {record['line']}: id {record['id']} is given twice")
        by_id[record["id"]] = record
    parent_of: dict[int, int] = {}
    for record in records:
        for child in record.get("childnodes", []):
            if child not in by_id:
                raise InvalidRequest(f"found reference to node {child} but no specification")
            if child in parent_of or child == records[0]["id"]:
                raise InvalidRequest(f"line {record['line']}: node {child} has more than one parent")
            parent_of[child] = record["id"]

    def node(ident: int, seen: set[int]) -> ShareNode:
        record = by_id[ident]
        seen.add(ident)
        out = ShareNode(record["name"], record["shares"], record.get("type", USER))
        for child in record.get("childnodes", []):
            built = node(child, seen)
            if out.child(built.name) is not None:
                raise InvalidRequest(f'denied: found node "{built.name}" twice under node "{out.name}"')
            out.children.append(built)
        return out

    seen: set[int] = set()
    root = node(records[0]["id"], seen)
    for record in records:
        if record["id"] not in seen:
            raise InvalidRequest(f"line {record['line']}: node {record['id']} "
                                 f"({record['name']}) is not below the root")
    return root


def _records(root: ShareNode) -> list[dict[str, Any]]:
    """Records depth first, numbered in that order, as Grid Engine prints them."""
    order = [node for _, node in root.walk()]
    ids = {id(node): index for index, node in enumerate(order)}
    return [{"id": ids[id(node)], "name": node.name, "type": node.type, "shares": node.shares,
             "childnodes": ",".join(str(ids[id(c)]) for c in node.children) or "NONE"}
            for node in order]


# ---------------------------------------------------------------- the object


@dataclass
class ShareTree(ConfigObject):
    """The cluster's share tree (at most one; ``qconf -dstree`` removes it)."""

    kind = "sharetree"
    layout: ClassVar[Any] = ShareTreeLayout()

    root: ShareNode = field(default_factory=lambda: ShareNode("Root", 1))

    def check(self) -> None:
        for path, node in self.root.walk():
            if node.shares < 0:
                raise ValueError(f"{path}: shares must not be negative")

    # ------------------------------------------------------------ node paths

    def find(self, path: str) -> ShareNode | None:
        node: ShareNode | None = self.root
        for name in split_path(path):
            node = node.child(name) if node is not None else None
        return node

    def node_lines(self, path: str) -> list[str]:
        """``-sstnode``: ``/A=30`` for the node and a line for each node below it."""
        names = split_path(path)
        node = self.find(path)
        if node is None:
            raise InvalidRequest(f"Unable to locate {path} in sharetree")
        base = path_text(names) if names else ""
        return [f"{sub}={n.shares}" for sub, n in node.walk(base)]

    def set_shares(self, path: str, shares: int) -> None:
        """``-mstnode``: change the shares of an existing node."""
        node = self.find(path)
        if node is None:
            raise InvalidRequest(f"Unable to locate {path} in sharetree")
        node.shares = shares

    def add_node(self, path: str, shares: int) -> None:
        """``-astnode``: a new leaf below an existing node."""
        names = split_path(path)
        if not names:
            raise InvalidRequest("the root node cannot be added")
        parent = self.find(path_text(names[:-1]))
        if parent is None:
            raise InvalidRequest(f"Unable to locate {path_text(names[:-1])} in sharetree")
        if parent.child(names[-1]) is not None:
            raise InvalidRequest(f'denied: found node "{names[-1]}" twice under node "{parent.name}"')
        parent.children.append(ShareNode(names[-1], shares))

    def remove_node(self, path: str) -> None:
        """``-dstnode``: remove a leaf (Grid Engine refuses a node with children)."""
        names = split_path(path)
        parent = self.find(path_text(names[:-1])) if names else None
        node = parent.child(names[-1]) if parent is not None else None
        if parent is None or node is None:
            raise InvalidRequest(f"Unable to locate {path} in sharetree")
        if node.children:
            raise InvalidRequest("can't delete nodes with children")
        parent.children.remove(node)

    def formatted(self) -> str:
        """``-sst``: the tree indented three spaces a level."""
        lines = []

        def walk(node: ShareNode, depth: int) -> None:
            lines.append(f"{'   ' * depth}{node.name}={node.shares}")
            for child in node.children:
                walk(child, depth + 1)

        walk(self.root, 0)
        return "".join(line + "\n" for line in lines)

    # ------------------------------------------------------------ against users/projects

    def resolve(self, users: set[str], projects: set[str]) -> None:
        """Mark project nodes (type 1) and refuse what Grid Engine refuses: a leaf that names
        no known user or project, a project inside another project's subtree."""

        def walk(node: ShareNode, project: str | None, is_root: bool) -> None:
            if not is_root and node.name in projects:
                if project is not None:
                    raise InvalidRequest(f'found project "{node.name}" in project "{project}" '
                                         "sub-tree of share tree")
                node.type, project = PROJECT, node.name
            elif not is_root and node.type == PROJECT and node.name not in projects:
                node.type = USER
            if not is_root and not node.children and node.name not in users | projects | {DEFAULT_NODE}:
                raise InvalidRequest(f'denied: share tree contains reference to unknown user/project "{node.name}"')
            for child in node.children:
                walk(child, project, False)

        walk(self.root, None, True)
