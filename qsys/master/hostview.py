"""An exec host as ``qconf -se`` shows it: its configuration plus what it reports now
(load values in Grid Engine's order and units, processors)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qsys.master.core import Master

_ORDER = ("load_avg", "load_short", "load_medium", "load_long", "arch", "num_proc", "mem_free",
          "swap_free", "virtual_free", "mem_total", "swap_total", "virtual_total", "mem_used",
          "swap_used", "virtual_used", "cpu", "m_topology", "m_topology_inuse", "m_socket",
          "m_core", "m_thread", "np_load_avg", "np_load_short", "np_load_medium", "np_load_long")
_MEMORY = ("mem_", "swap_", "virtual_")
_WHOLE = ("num_proc", "m_socket", "m_core", "m_thread")


def _text(name: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    if name.startswith(_MEMORY):
        return f"{float(value) / 1048576:f}M"
    if name in _WHOLE:
        return str(int(value))
    return f"{float(value):f}"


def _topology(sockets: int, cores: int, threads: int) -> str:
    per_core = max(threads // max(cores, 1), 1)
    core = "C" + ("T" * per_core if per_core > 1 else "")
    per_socket = max(cores // max(sockets, 1), 1)
    return ("S" + core * per_socket) * max(sockets, 1)


def exechost_view(master: Master, obj: Any) -> Any:
    """``obj`` with load_values and processors of the live host (unchanged if it is down)."""
    host = master.hosts.get(obj.hostname)
    if host is None or not host.load:
        return obj
    values: dict[str, Any] = dict(host.load)
    values["arch"] = host.arch
    values.setdefault("num_proc", host.processors)
    topo = _topology(host.sockets, host.cores, host.threads)
    values.update({"m_topology": topo, "m_topology_inuse": topo, "m_socket": host.sockets,
                   "m_core": host.cores, "m_thread": host.threads})
    names = [n for n in _ORDER if n in values] + sorted(set(values) - set(_ORDER))
    return replace(obj, load_values={n: _text(n, values[n]) for n in names}, processors=host.processors)
