"""How much of a known CPU burn the accounting records, per way a process can reach a job.

    python bench/usage_capture.py [--seconds 2]

Each case burns a known amount of CPU (tests/helpers/burn.py measures its own cpu time) and
compares it with the ``cpu`` of the job's accounting records:

* batch: the burn is a plain child of the job script;
* double-fork: the burn double-forks and starts a new session (a daemon, a careless launcher);
* foreign: a process outside the job's tree that carries the job's extra group ID, as a login
  through sshd with the PAM helper does (its shell runs the burn and lives on);
* qrsh -inherit: a pe task on a second exec host whose command double-forks the burn.

qsys runs as a personal cluster (root, so extra group IDs are attached) in a temporary root.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from qsys.master.accounting import ACCOUNTING_FIELDS  # noqa: E402
from tests.clusterlib import Cluster, wait_until  # noqa: E402

BURN = REPO / "tests" / "helpers" / "burn.py"
PY = sys.executable


def records(cluster: Cluster, job_id: int, count: int = 1) -> list[dict[str, str]]:
    def read() -> list[dict[str, str]] | None:
        try:
            lines = cluster.cell.accounting_file.read_text().splitlines()
        except FileNotFoundError:
            return None
        found = [dict(zip(ACCOUNTING_FIELDS, line.split(":"), strict=True)) for line in lines
                 if not line.startswith("#")]
        mine = [r for r in found if r["job_number"] == str(job_id)]
        return mine if len(mine) >= count else None

    return wait_until(read, 120, f"records of job {job_id}")  # type: ignore[no-any-return]


def submit(cluster: Cluster, *args: str) -> int:
    proc = cluster.run("qsub", "-terse", "-o", "/dev/null", "-j", "y", *args)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    return int(proc.stdout.strip())


def gone(cluster: Cluster, job_id: int) -> None:
    wait_until(lambda: all(r["job_id"] != job_id for r in cluster.jobs()), 120, f"job {job_id} to end")


def case_batch(cluster: Cluster, tmp: Path, seconds: float, detach: bool) -> tuple[float, float]:
    done = tmp / f"batch{int(detach)}"
    mode = " detach" if detach else ""
    job = submit(cluster, "-b", "y", "/bin/sh", "-c",
                 f"{PY} {BURN} {seconds} {done}{mode}; while [ ! -f {done} ]; do sleep 0.1; done")
    gone(cluster, job)
    return float(done.read_text()), sum(float(r["cpu"]) for r in records(cluster, job))


def case_foreign(cluster: Cluster, tmp: Path, seconds: float) -> tuple[float, float]:
    done = tmp / "foreign"
    job = submit(cluster, "-b", "y", "/bin/sh", "-c", f"while [ ! -f {done} ]; do sleep 0.1; done; sleep 5")
    spool = cluster.cell.execd_spool("node1") / "active_jobs" / f"{job}.1" / "job.json"
    wait_until(spool.exists, 30, "the job to start")
    gid = json.loads(spool.read_text())["extra_gid"]
    shell = subprocess.Popen(["/bin/sh", "-c", f"{PY} {BURN} {seconds} {done}; sleep 300"],
                             preexec_fn=lambda: os.setgroups([gid]), start_new_session=True)
    try:
        gone(cluster, job)
    finally:
        shell.kill()
        shell.wait()
    return float(done.read_text()), sum(float(r["cpu"]) for r in records(cluster, job))


def case_inherit(cluster: Cluster, tmp: Path, seconds: float) -> tuple[float, float]:
    done = tmp / "inherit"
    script = (f'qrsh -inherit node2 "{PY} {BURN} {seconds} {done} detach; '
              f'while [ ! -f {done} ]; do sleep 0.1; done"')
    job = submit(cluster, "-pe", "make", "2", "-v", f"PYTHONPATH={REPO}", "-b", "y", "/bin/sh", "-c", script)
    gone(cluster, job)
    return float(done.read_text()), sum(float(r["cpu"]) for r in records(cluster, job, count=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: extra group IDs need a root exec daemon")
    with tempfile.TemporaryDirectory(prefix="qsys-bench-") as tmpdir:
        tmp = Path(tmpdir)
        os.chmod(tmp, 0o755)
        with Cluster(tmp / "cell", hosts=["node1", "node2"], slots=1) as cluster:
            cases = [
                ("batch child", lambda: case_batch(cluster, tmp, args.seconds, False)),
                ("double-forked", lambda: case_batch(cluster, tmp, args.seconds, True)),
                ("foreign (sshd-like)", lambda: case_foreign(cluster, tmp, args.seconds)),
                ("qrsh -inherit", lambda: case_inherit(cluster, tmp, args.seconds)),
            ]
            print(f"{'startup':<22}{'burned s':>10}{'recorded s':>12}{'captured':>10}")
            for name, run in cases:
                burned, recorded = run()
                print(f"{name:<22}{burned:>10.3f}{recorded:>12.3f}{100 * recorded / burned:>9.1f}%", flush=True)


if __name__ == "__main__":
    main()
