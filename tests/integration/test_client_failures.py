"""What users see when things go wrong: a master that restarts under a qsub loop (every qsub
succeeds or fails in one line, none is applied twice), a master that hangs (the command gives
up in bounded time with one line), bytes that are not UTF-8 in arguments, the environment and
``#$`` lines (the job gets exactly those bytes), a qconf file that is not UTF-8."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from pathlib import Path

from tests.clusterlib import BIN, Cluster, wait_until


def _bytes_env(cluster: Cluster, **extra: bytes) -> dict[bytes, bytes]:
    env = {k.encode(): v.encode() for k, v in cluster.env.items()}
    env.update({k.encode(): v for k, v in extra.items()})
    return env


def _one_clean_line(stderr: str) -> None:
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr


def test_qsub_while_the_master_restarts(cluster: Cluster) -> None:
    results: list[tuple[str, subprocess.CompletedProcess[str]]] = []

    def loop() -> None:
        for i in range(45):
            name = f"loop{i}"
            results.append((name, cluster.run("qsub", "-terse", "-h", "-N", name, "-b", "y", "true", timeout=120)))

    thread = threading.Thread(target=loop)
    thread.start()
    try:
        for after in (5, 20):
            wait_until(lambda after=after: len(results) >= after or not thread.is_alive(), 120, f"{after} qsubs")
            cluster.kill_master(signal.SIGKILL)
            cluster.start_master()
    finally:
        thread.join(300)
    failed = [(name, proc) for name, proc in results if proc.returncode != 0]
    for _, proc in failed:
        _one_clean_line(proc.stderr)
    print(f"\n{len(results)} qsubs across 2 kill -9 restarts of the master: {len(results) - len(failed)} "
          f"succeeded, {len(failed)} failed in one line")
    assert len(failed) <= 2  # at most the one request in flight at each kill
    names = {}
    for row in cluster.jobs():
        assert row.name not in names, f"{row.name} submitted twice"
        names[row.name] = row.job_id
    for name, proc in results:
        if proc.returncode == 0:
            assert names[name] == int(proc.stdout.strip())
    assert len(results) == 45 and len(names) >= 43


def test_a_hung_master_is_given_up_on_with_one_line(cluster: Cluster) -> None:
    assert cluster.master_proc is not None
    pid = cluster.master_proc.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        env = {"QSYS_CONNECT_RETRY": "3"}
        qstat = cluster.run("qstat", env=env, timeout=60)
        assert qstat.returncode == 1
        _one_clean_line(qstat.stderr)
        assert qstat.stderr.startswith(f"error: unable to contact qmaster using socket {cluster.cell.master_socket}")
        port = cluster.cell.bootstrap()["master_port"]
        qsub = cluster.run("qsub", "-b", "y", "true", env={**env, "QSYS_MASTER": f"127.0.0.1:{port}"}, timeout=60)
        assert qsub.returncode == 1
        _one_clean_line(qsub.stderr)
        assert qsub.stderr.startswith(f'error: unable to contact qmaster using port {port} on host "127.0.0.1"')
    finally:
        os.kill(pid, signal.SIGCONT)
    assert cluster.run("qstat").returncode == 0


def test_bytes_that_are_not_utf8_reach_the_job_exactly(cluster: Cluster, tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o777)
    arg, value, directive = b"a\xff\xfe b", b"v\xe9\x80", b"d\xfd"
    script = tmp_path / "job.sh"
    script.write_bytes(b"#!/bin/sh\n#$ -v QSYS_D=" + directive + b"\n"
                       b'printf "%s" "$1" > arg.out\nprintf "%s" "$QSYS_X" > env.out\n'
                       b'printf "%s" "$QSYS_D" > directive.out\nprintf "%s" "$QSYS_JUNK" > junk.out\n')
    env = _bytes_env(cluster, QSYS_X=value, QSYS_JUNK=b"\xff\xfe")
    proc = subprocess.run([str(BIN / "qsub"), b"-sync", b"y", b"-cwd", b"-V", b"-v", b"QSYS_X", str(script), arg],
                          env=env, cwd=tmp_path, capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "arg.out").read_bytes() == arg
    assert (tmp_path / "env.out").read_bytes() == value
    assert (tmp_path / "directive.out").read_bytes() == directive
    assert (tmp_path / "junk.out").read_bytes() == b"\xff\xfe"
    name = b"n\xe4me"  # qstat shows the bytes of an argument as they were
    proc = subprocess.run([str(BIN / "qsub"), b"-h", b"-b", b"y", b"/bin/echo", name], env=env,
                          capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    job_id = proc.stdout.split()[2].decode()
    shown = subprocess.run([str(BIN / "qstat"), b"-j", job_id.encode()], env=env, capture_output=True, timeout=60)
    assert shown.returncode == 0 and name in shown.stdout, shown.stderr


def test_a_qconf_file_that_is_not_utf8_is_a_clear_error(cluster: Cluster, tmp_path: Path) -> None:
    path = tmp_path / "queue"
    path.write_bytes(b"qname bad.q\nhostlist \xff\xfe\n")
    proc = cluster.run("qconf", "-Aq", str(path))
    assert proc.returncode == 1
    _one_clean_line(proc.stderr)
    assert proc.stderr == f'error: file "{path}", line 2: not UTF-8 text (byte 0xff)\n'
    assert "bad.q" not in cluster.run("qconf", "-sql").stdout
