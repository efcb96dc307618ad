"""``bench/sched_policies.py --quick`` runs to its end and prints both pass times, their ratio
and each policy alone (figures are not asserted: this is a benchmark, the test keeps it
working)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_quick_policies_benchmark_prints_both_pass_times_and_the_ratio() -> None:
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "sched_policies.py"), "--quick", "--repeat", "1"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.split()[:1] == ["pending"])
    row = lines[at + 1].split()
    assert row[0] == "2000" and row[1].endswith("s") and row[2].endswith("s")
    assert float(row[3]) > 0 and int(row[4]) > 0 and int(row[5]) > 0  # ratio, started, reserved
    alone = [line.split()[0] for line in lines[at + 3:]]
    assert alone == ["tickets", "quotas", "reservation", "advance", "devices"]
