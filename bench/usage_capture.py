"""How much of a known CPU burn the accounting records, per way a process can reach a job.

    python bench/usage_capture.py [--seconds 2]

Each case burns a known amount of CPU (tests/helpers/burn.py measures its own cpu time) and
compares it with the ``cpu`` of the job's accounting records:

* batch: the burn is a plain child of the job script;
* double-fork: the burn double-forks and starts a new session (a daemon, a careless launcher);
* foreign: a process outside the job's tree that carries the job's extra group ID, as a login
  through sshd with the PAM helper does (its shell runs the burn and lives on);
* qrsh -inherit: a pe task on a second exec host whose command double-forks the burn;
* foreign on slave host: a carrier of a PE job's group ID on its slave host, outside every
  task (the slave host's exec daemon samples it and reports a ``foreign.<host>`` record).

Then, per startup method with the real daemons (a service-mode cluster, test user
qsys_alice, pam_qsys in the daemon's PAM service, tests/startuplib.py), a session whose
command double-forks the burn: qrsh through builtin, sshd -i, in.rshd, qlogin through
telnetd and login; and qrsh -inherit through builtin and sshd -i (the pe task's record).

qsys runs as a personal cluster (root, so extra group IDs are attached) in a temporary root.
Grid Engine's figures here: 1.90 s of 2 s for a batch job, 0.08 s through plain sshd -i.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from qsys.accounting_file import ACCOUNTING_FIELDS  # noqa: E402
from tests.clusterlib import Cluster, ensure_user, wait_until  # noqa: E402
from tests.startuplib import method_setup, telnet_session  # noqa: E402

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
    burn_outside(cluster, job, json.loads(spool.read_text())["extra_gid"], seconds, done)
    return float(done.read_text()), sum(float(r["cpu"]) for r in records(cluster, job))


def burn_outside(cluster: Cluster, job: int, gid: int, seconds: float, done: Path) -> None:
    """Burn in a process outside the job's tree that carries ``gid`` (and lives on), until
    the job is gone."""
    shell = subprocess.Popen(["/bin/sh", "-c", f"{PY} {BURN} {seconds} {done}; sleep 300"],
                             preexec_fn=lambda: os.setgroups([gid]), start_new_session=True)
    try:
        gone(cluster, job)
    finally:
        shell.kill()
        shell.wait()


def case_inherit(cluster: Cluster, tmp: Path, seconds: float) -> tuple[float, float]:
    done = tmp / "inherit"
    script = (f'qrsh -inherit node2 "{PY} {BURN} {seconds} {done} detach; '
              f'while [ ! -f {done} ]; do sleep 0.1; done"')
    job = submit(cluster, "-pe", "make", "2", "-v", f"PYTHONPATH={REPO}", "-b", "y", "/bin/sh", "-c", script)
    gone(cluster, job)
    return float(done.read_text()), sum(float(r["cpu"]) for r in records(cluster, job, count=2))


USER = "qsys_alice"
PE = {"slots": "99", "allocation_rule": "$round_robin", "control_slaves": "TRUE", "job_is_first_task": "TRUE"}


def method_cluster(root: Path, method: str) -> tuple[Cluster, list[Any]]:
    """A two-host service-mode cluster whose remote startup is ``method`` (real daemons)."""
    from qsys.store import PutObject, Store

    conf, undo = method_setup(method, root, USER)
    cluster = Cluster(root / "cell", hosts=["node1", "node2"], slots=1, mode="service")
    cluster.init()
    store = Store(cluster.cell.bootstrap()["store_url"])
    store.create()
    store.apply([PutObject("conf", "global", {"attrs": conf}), PutObject("pe", "tight", {"attrs": PE}),
                 PutObject("queue", "all.q", {"attrs": {"hostlist": "@allhosts", "slots": "1", "pe_list": "tight"}})])
    store.close()
    cluster.start()
    return cluster, undo


def burn_line(out: Path, seconds: float) -> str:
    done = out / "burned"
    done.unlink(missing_ok=True)
    return f"{PY} {BURN} {seconds} {done} detach; while [ ! -f {done} ]; do sleep 0.1; done"


def case_session(cluster: Cluster, out: Path, method: str, seconds: float) -> tuple[float, float]:
    command = burn_line(out, seconds)
    if method == "telnet":
        telnet_session(cluster, USER, command)
    else:
        proc = cluster.run("qrsh", command, user=USER, timeout=120)
        if proc.returncode != 0:
            raise SystemExit(f"qrsh ({method}) failed: {proc.stderr}")
    found = wait_until(lambda: records_of(cluster) or None, 60, "the session's record")  # the first job
    return float((out / "burned").read_text()), float(found[0]["cpu"])


def case_inherit_method(cluster: Cluster, out: Path, seconds: float) -> tuple[float, float]:
    line = burn_line(out, seconds)
    proc = cluster.run("qsub", "-terse", "-pe", "tight", "2", "-masterq", "all.q@node1", "-v", f"PYTHONPATH={REPO}",
                       "-o", "/dev/null", "-j", "y", "-b", "y", "/bin/sh", "-c", f"qrsh -inherit node2 '{line}'",
                       user=USER)
    job = int(proc.stdout.strip())
    gone(cluster, job)
    task = [r for r in records(cluster, job, count=2) if r["pe_taskid"] != "NONE"]
    return float((out / "burned").read_text()), float(task[0]["cpu"])


def records_of(cluster: Cluster) -> list[dict[str, str]]:
    try:
        lines = cluster.cell.accounting_file.read_text().splitlines()
    except FileNotFoundError:
        return []
    return [dict(zip(ACCOUNTING_FIELDS, line.split(":"), strict=True)) for line in lines if not line.startswith("#")]


METHODS = (("builtin", "builtin"), ("ssh", "sshd -i"), ("rsh", "in.rshd"), ("telnet", "telnetd"))


def run_method(tmp: Path, method: str, label: str, seconds: float) -> list[tuple[str, float, float]]:
    """The rows of one startup method, on a cluster of its own."""
    root = tmp / f"method-{method}"
    root.mkdir(mode=0o755)
    out = root / "out"
    out.mkdir()
    out.chmod(0o777)
    cluster, undo = method_cluster(root, method)
    try:
        name = f"qlogin {label}" if method == "telnet" else f"qrsh {label}"
        rows = [(name, *case_session(cluster, out, method, seconds))]
        if method in ("builtin", "ssh"):
            rows.append((f"qrsh -inherit {label}", *case_inherit_method(cluster, out, seconds)))
        return rows
    finally:
        cluster.__exit__(None, None, None)
        for step in reversed(undo):
            step()


def show(name: str, burned: float, recorded: float) -> None:
    print(f"{name:<22}{burned:>10.3f}{recorded:>12.3f}{100 * recorded / burned:>9.1f}%", flush=True)


def case_foreign_slave(cluster: Cluster, tmp: Path, seconds: float) -> tuple[float, float]:
    """A carrier of a PE job's group ID on its slave host, outside every task."""
    done = tmp / "foreign-slave"
    job = submit(cluster, "-pe", "make", "2", "-masterq", "all.q@node1", "-b", "y", "/bin/sh", "-c",
                 f"while [ ! -f {done} ]; do sleep 0.1; done; sleep 3")
    slave = cluster.cell.execd_spool("node2") / "pe_slaves" / f"{job}.1" / "job.json"
    wait_until(slave.exists, 30, "the slave record")
    burn_outside(cluster, job, json.loads(slave.read_text())["extra_gid"], seconds, done)
    found = [r for r in records(cluster, job, count=2) if r["pe_taskid"].startswith("foreign.")]
    return float(done.read_text()), float(found[0]["cpu"])


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
                ("foreign on slave host", lambda: case_foreign_slave(cluster, tmp, args.seconds)),
            ]
            print(f"{'startup':<22}{'burned s':>10}{'recorded s':>12}{'captured':>10}")
            for name, run in cases:
                show(name, *run())
        ensure_user(USER)
        for method, label in METHODS:
            for row in run_method(tmp, method, label, args.seconds):
                show(*row)


if __name__ == "__main__":
    main()
