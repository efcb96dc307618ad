"""``bench/scale.py --quick`` runs to its end and prints its whole report (figures are not
asserted: this is a benchmark, the test only keeps it working)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_quick_scale_benchmark_prints_a_row_per_size_and_the_growth() -> None:
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "scale.py"), "--quick"], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.split()[:2] == ["hosts", "pending"])
    rows = [dict(zip(lines[at].split(), line.split(), strict=True)) for line in lines[at + 1:at + 4]]
    assert [(row["hosts"], row["pending"]) for row in rows] == [("20", "500"), ("20", "2000"), ("50", "2000")]
    for row in rows:
        assert int(row["jobs"]) > 0 and int(row["starts"]) > 0 and int(row["passes"]) > 0
        assert float(row["submit/s"]) > 0 and float(row["qstat_s"]) > 0 and float(row["rss_pending_MB"]) > 0
    growth = [line for line in lines if " -> " in line]
    assert len(growth) == 2 and all("mean pass x" in line for line in growth)
    assert "where a pass goes" in proc.stdout
