"""Host group (``qconf -shgrp``): a named list of hosts and other groups."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from qsys.objects.base import ConfigObject, attr
from qsys.objects.layout import KeyValueLayout
from qsys.objects.values import Text, WordList


@dataclass
class HostGroup(ConfigObject):
    kind = "hostgroup"
    key = "group_name"
    layout = KeyValueLayout(width=0)

    group_name: str = attr(Text())
    hostlist: list[str] = attr(WordList(), factory=list)

    def check(self) -> None:
        if not self.group_name.startswith("@") or len(self.group_name) < 2:
            raise ValueError(f"group_name: '{self.group_name}' does not start with @")


def resolve_hosts(names: list[str], groups: Mapping[str, HostGroup]) -> list[str]:
    """Host names of a host list with its @groups expanded (nested, cycles ignored)."""
    out: list[str] = []
    seen: set[str] = set()  # groups walked and hosts taken (a set: @allhosts of 1,000 hosts
    #   was 500,000 list comparisons, and a configuration change asks it for every host)

    def walk(items: list[str]) -> None:
        for item in items:
            if item in seen:
                continue
            if item.startswith("@"):
                if item not in groups:
                    continue
                seen.add(item)
                walk(groups[item].hostlist)
            else:
                seen.add(item)
                out.append(item)

    walk(names)
    return out


def groups_of(host: str, groups: Mapping[str, HostGroup]) -> list[str]:
    """The groups ``host`` belongs to, directly or through nested groups."""
    return sorted(name for name, group in groups.items() if host in resolve_hosts([name], groups))
