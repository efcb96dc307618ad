"""qsys-restd's settings: ``restd_*`` keys of the cell's bootstrap file (see qsys-restd(8)).

They live beside the master's keys so one file says where everything of a cell listens.
Missing keys take safe defaults: the Unix socket only (no TCP port), a TCP listener bound to
loopback when a port is given, and every TCP request carrying a token.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from qsys.errors import UsageError
from qsys.paths import Cell

DEFAULT_BIND = "127.0.0.1"
MONITORING = ("token", "open")


@dataclass(frozen=True)
class Settings:
    """Where restd listens and whom it serves without a token."""

    socket_path: Path  # restd_socket: the Unix socket (the kernel names the caller)
    port: int | None  # restd_port: TCP port (0: any free one; None: no TCP listener)
    bind: str  # restd_bind: the TCP address
    monitoring: str  # restd_monitoring: "token" (default) or "open" (read-only GETs without one)
    refresh: float  # restd_refresh: seconds a cluster snapshot is reused by the dashboard and /metrics

    @property
    def monitoring_open(self) -> bool:
        return self.monitoring == "open"

    @property
    def loopback_only(self) -> bool:
        return is_loopback(self.bind)


def is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def load(cell: Cell) -> Settings:
    """The settings of ``cell``; a bad value is a UsageError naming the key."""
    boot = cell.bootstrap()
    port_text = boot.get("restd_port", "").strip()
    try:
        port = int(port_text) if port_text else None
        refresh = float(boot.get("restd_refresh") or 1.0)
    except ValueError as exc:
        raise UsageError(f"qsys-restd: bad restd_port or restd_refresh in {cell.bootstrap_file}: {exc}") from None
    if port is not None and not 0 <= port <= 65535:
        raise UsageError(f"qsys-restd: restd_port {port} is not a TCP port")
    monitoring = boot.get("restd_monitoring") or "token"
    if monitoring not in MONITORING:
        raise UsageError(f"qsys-restd: restd_monitoring must be one of {', '.join(MONITORING)}, not {monitoring}")
    socket_path = Path(boot.get("restd_socket") or cell.restd_spool / "restd.sock")
    return Settings(socket_path, port, boot.get("restd_bind") or DEFAULT_BIND, monitoring, refresh)
