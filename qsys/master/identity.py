"""Who sent a request, and what they may do (manager, operator, or neither)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qsys.master.config import ClusterConfig


@dataclass(frozen=True, slots=True)
class Identity:
    """Who sent a request, as the operating system or a signed credential says."""

    uid: int
    user: str
    host: str
    manager: bool = False
    operator: bool = False
    address: str = ""  # the peer's IP address on TCP ("" on the Unix socket)

    @property
    def privileged(self) -> bool:
        return self.manager or self.operator


def identify(config: ClusterConfig, owner_uid: int, uid: int, user: str, host: str) -> Identity:
    """The identity of ``user`` (``uid``) calling from ``host``: root and the cluster owner
    are managers, then whoever the configuration names."""
    manager = uid == 0 or uid == owner_uid or user in config.managers
    operator = manager or user in config.operators
    return Identity(uid=uid, user=user, host=host, manager=manager, operator=operator)
