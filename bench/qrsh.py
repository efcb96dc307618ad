"""Latency of an interactive session: ``qrsh -now y /bin/true`` on an idle personal cluster.

Prints, as medians over N runs:

* builtin, end to end: the qrsh command as a user runs it (interpreter start included);
* builtin, library: submit + grant + builtin session through ``qsys.startup`` in one process
  (what the cluster itself adds, without the client's interpreter start);
* ssh, end to end: rsh_command ssh / rsh_daemon ``sshd -i`` (a service-mode cluster, test
  user qsys_alice with a key made for the run; needs root);
* qsys-sshd, end to end: rsh_command /usr/bin/ssh / rsh_daemon ``qsys-sshd`` (the per-job
  daemon on asyncssh, keys from the session token; same cluster and user as the ssh row);
* SGE 8.1.9 when a single-host cell of Debian's gridengine packages runs on this machine.

    python bench/qrsh.py [--runs N] [--no-ssh] [--no-sge]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.run import with_bytecode  # noqa: E402
from tests.clusterlib import BIN, Cluster, ensure_user  # noqa: E402

SGE_ENV = {"SGE_ROOT": "/var/lib/gridengine", "SGE_CELL": "default"}


def median_ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:.1f} ms"


def timed_runs(runs: int, fn) -> list[float]:  # type: ignore[no-untyped-def]
    fn()  # warm-up: caches, the forkserver, the store
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def builtin_rows(runs: int) -> list[tuple[str, str]]:
    base = Path(tempfile.mkdtemp(prefix="qsys-bench-", dir="/tmp"))
    os.chmod(base, 0o755)
    try:
        with Cluster(base / "cell", hosts=["node1"], slots=4) as cluster:
            env = with_bytecode(cluster.env, base / "pycache")
            argv = [str(BIN / "qrsh"), "-now", "y", "/bin/true"]

            def command() -> None:
                subprocess.run(argv, env=env, check=True, cwd="/tmp")

            os.environ.update({"QSYS_ROOT": env["QSYS_ROOT"], "QSYS_CELL": "default"})
            from qsys.client import Client
            from qsys.jobspec import JobSpec
            from qsys.startup import builtin, session

            def library() -> None:
                spec = JobSpec(command="/bin/true", binary=True, job_type="qrsh", name="true", now=True)
                with Client() as client:
                    grant = session.wait(client, session.submit(client, spec)["job_id"])
                code = builtin.run(grant["addresses"], grant["port"], grant["token"], pty=False, nostdin=True)
                assert code == 0

            return [("qsys builtin, qrsh -now y /bin/true", median_ms(timed_runs(runs, command))),
                    ("qsys builtin, library (no interpreter start)", median_ms(timed_runs(runs, library)))]
    finally:
        shutil.rmtree(base, ignore_errors=True)


def ssh_row(runs: int, daemon: str) -> tuple[str, str]:
    """``daemon``: ``sshd`` (OpenSSH's sshd -i with a key made for the run) or ``qsys-sshd``."""
    from tests.startuplib import QSYS_SSHD_CONF, SshSetup, start_with_conf

    user = "qsys_alice"
    ensure_user(user)
    base = Path(tempfile.mkdtemp(prefix="qsys-bench-", dir="/tmp"))
    os.chmod(base, 0o755)
    cluster = Cluster(base / "cell", hosts=["node1"], slots=4, mode="service")
    try:
        if daemon == "sshd":
            ssh = SshSetup(base, user)
            conf, label = {"rsh_command": ssh.command, "rsh_daemon": ssh.daemon}, "qsys ssh (sshd -i)"
        else:
            conf, label = dict(QSYS_SSHD_CONF), "qsys ssh (qsys-sshd)"
        start_with_conf(cluster, conf)

        def command() -> None:
            proc = cluster.run("qrsh", "-now", "y", "/bin/true", user=user)
            assert proc.returncode == 0, proc.stderr

        return f"{label}, qrsh -now y /bin/true", median_ms(timed_runs(runs, command))
    finally:
        cluster.__exit__(None, None, None)
        shutil.rmtree(base, ignore_errors=True)


def sge_row(runs: int) -> tuple[str, str] | None:
    if not (Path(SGE_ENV["SGE_ROOT"]).is_dir() and shutil.which("qrsh", path="/usr/bin")):
        return None
    argv = ["runuser", "-u", "sgeuser", "--", "env", *[f"{k}={v}" for k, v in SGE_ENV.items()],
            "/usr/bin/qrsh", "-now", "y", "/bin/true"]
    return "SGE 8.1.9, qrsh -now y /bin/true", median_ms(timed_runs(runs, lambda: subprocess.run(argv, check=True)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--no-ssh", action="store_true")
    parser.add_argument("--no-sge", action="store_true")
    args = parser.parse_args()
    rows = builtin_rows(args.runs)
    if not args.no_ssh and os.geteuid() == 0:
        rows += [ssh_row(args.runs, "sshd"), ssh_row(args.runs, "qsys-sshd")]
    if not args.no_sge:
        row = sge_row(args.runs)
        if row:
            rows.append(row)
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value:>10}")


if __name__ == "__main__":
    main()
