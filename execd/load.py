"""Load values of this host, read from /proc, in the names Grid Engine reports.

Numbers stay numbers (floats; memory in bytes): the master formats them for qhost/qstat.
``cpu`` is the busy share of all processors since the previous sample, in percent.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

ARCH = "lx-amd64"


def meminfo(path: str = "/proc/meminfo") -> dict[str, int]:
    values: dict[str, int] = {}
    with open(path) as f:
        for line in f:
            name, _, rest = line.partition(":")
            parts = rest.split()
            if parts and parts[0].isdigit():
                values[name] = int(parts[0]) * (1024 if len(parts) > 1 and parts[1] == "kB" else 1)
    return values


def _cpu_times(path: str = "/proc/stat") -> tuple[int, int]:
    """(busy, total) jiffies of all processors."""
    with open(path) as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    total = sum(fields[:8])
    return total - idle, total


@dataclass
class Topology:
    processors: int
    sockets: int
    cores: int
    threads: int


def topology(path: str = "/proc/cpuinfo") -> Topology:
    """Processors, sockets, cores and hardware threads (cpuinfo, else os.cpu_count())."""
    processors = os.cpu_count() or 1
    sockets: set[str] = set()
    cores: set[tuple[str, str]] = set()
    threads = 0
    try:
        with open(path) as f:
            phys = "0"
            for line in f:
                name, _, value = line.partition(":")
                name, value = name.strip(), value.strip()
                if name == "processor":
                    threads += 1
                elif name == "physical id":
                    phys = value
                    sockets.add(value)
                elif name == "core id":
                    cores.add((phys, value))
    except OSError:
        pass
    threads = threads or processors
    return Topology(processors, len(sockets) or 1, len(cores) or threads, threads)


class LoadSampler:
    """Samples load values; keeps the previous /proc/stat reading for ``cpu``."""

    def __init__(self) -> None:
        self.processors = os.cpu_count() or 1
        try:
            self._last_cpu: tuple[int, int] | None = _cpu_times()
        except OSError:
            self._last_cpu = None

    def _cpu_percent(self) -> float:
        try:
            now = _cpu_times()
        except OSError:
            return 0.0
        last, self._last_cpu = self._last_cpu, now
        if last is None or now[1] <= last[1]:
            return 0.0
        return round(100.0 * (now[0] - last[0]) / (now[1] - last[1]), 1)

    def sample(self) -> dict[str, float]:
        one, five, fifteen = os.getloadavg()
        mem = meminfo()
        mem_total = float(mem.get("MemTotal", 0))
        mem_free = float(mem.get("MemAvailable", mem.get("MemFree", 0)))
        swap_total = float(mem.get("SwapTotal", 0))
        swap_free = float(mem.get("SwapFree", 0))
        return {
            "load_avg": one,
            "load_short": one,
            "load_medium": five,
            "load_long": fifteen,
            "np_load_avg": one / self.processors,
            "np_load_short": one / self.processors,
            "np_load_medium": five / self.processors,
            "np_load_long": fifteen / self.processors,
            "num_proc": float(self.processors),
            "mem_total": mem_total,
            "mem_free": mem_free,
            "mem_used": mem_total - mem_free,
            "swap_total": swap_total,
            "swap_free": swap_free,
            "swap_used": swap_total - swap_free,
            "virtual_total": mem_total + swap_total,
            "virtual_free": mem_free + swap_free,
            "virtual_used": (mem_total - mem_free) + (swap_total - swap_free),
            "cpu": self._cpu_percent(),
        }
