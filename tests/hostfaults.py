"""What the hung-host tests share: the timeouts that make a host unknown quickly, and the
copies of a job that run on the machine (every run of a test job carries a unique marker)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from tests.clusterlib import Cluster

FAST_UNHEARD = {"load_report_time": "00:00:01", "max_unheard": "00:00:04", "reschedule_unknown": "00:00:03"}


def set_global_conf(cluster: Cluster, where: Path, values: dict[str, str]) -> None:
    """Change attributes of the global configuration (qconf -sconf, edit, qconf -Mconf)."""
    text = cluster.run("qconf", "-sconf", check=True).stdout
    for name, value in values.items():
        text, found = re.subn(rf"^{name}\s+.*$", f"{name} {value}", text, flags=re.M)
        if not found:
            text += f"{name} {value}\n"
    path = where / "global.conf"
    path.write_text(text)
    cluster.run("qconf", "-Mconf", str(path), check=True)


def copies(marker: str) -> int:
    """How many processes run ``sleep <marker>`` (one per running copy of a test job)."""
    found = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            with open(f"/proc/{pid}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if state != b"Z" and len(argv) > 1 and argv[0].endswith(b"sleep") and argv[1] == marker.encode():
            found += 1
    return found


def queue_states(cluster: Cluster) -> dict[str, str]:
    """Queue instance -> its state letters, from ``qstat -f``."""
    out = {}
    for line in cluster.run("qstat", "-f", check=True).stdout.splitlines():
        fields = line.split()
        if fields and "@" in fields[0] and len(fields) >= 5:
            out[fields[0]] = fields[5] if len(fields) > 5 else ""
    return out


def job_states(cluster: Cluster) -> dict[int, tuple[str, str]]:
    """Job id -> (state, queue) from the client (one row per running task, then pending)."""
    return {int(r["job_id"]): (str(r["state"]), str(r["queue"])) for r in cluster.jobs()}
