"""A builtin session port under a slow-loris peer: connections are served side by side with a
deadline for each whole HELLO, so the owner's qrsh gets in at once; the port is bound to the
address the client comes from."""

from __future__ import annotations

import os
import socket
import threading

from qsys.jobspec import JobSpec
from qsys.remote import wire
from qsys.startup import builtin, session
from tests.clusterlib import Cluster, listening_addresses


def test_a_slow_loris_does_not_keep_the_owner_out(cluster: Cluster) -> None:
    spec = JobSpec(command="echo", args=["owner", "got", "in"], binary=True, job_type="qrsh", name="echo",
                   now=True)
    with cluster.client() as client:
        grant = session.wait(client, session.submit(client, spec).job_id)
    assert grant.addresses == ["127.0.0.1"]  # the client is on this host: loopback only
    assert listening_addresses(grant.port) == ["0100007F"]
    stop = threading.Event()
    loris_ended: list[bytes] = []
    lorises = [socket.create_connection(("127.0.0.1", grant.port), timeout=30) for _ in range(3)]

    def trickle(sock: socket.socket) -> None:
        hello = wire.control(wire.HELLO, {"token": "x" * 200, "pty": False})
        try:
            for byte in hello:
                if stop.wait(0.5):
                    return
                sock.send(bytes([byte]))
            loris_ended.append(b"sent all")
        except OSError:
            loris_ended.append(b"cut off")

    threads = [threading.Thread(target=trickle, args=(s,), daemon=True) for s in lorises]
    for thread in threads:
        thread.start()
    try:
        out_r, out_w = os.pipe()
        sock = builtin.connect(grant.addresses, grant.port)
        sock.settimeout(30)  # with the old port: served only after the lorises gave up (never)
        builtin.handshake(sock, grant.token, False, 0)
        code = builtin.Client(sock, pty=False, nostdin=True, stdout_fd=out_w).run()
        os.close(out_w)
        assert code == 0 and os.read(out_r, 100) == b"owner got in\n"
        for loris in lorises:  # the port closed them when the owner got in
            loris.settimeout(30)
            assert loris.recv(100) in (b"", wire.frame(wire.REFUSE, b"permission denied: wrong session token"))
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
        for sock in lorises:
            sock.close()


def test_a_trickling_hello_is_refused_after_its_deadline(cluster: Cluster) -> None:
    spec = JobSpec(command="true", binary=True, job_type="qrsh", name="true", now=True)
    with cluster.client() as client:
        job_id = session.submit(client, spec).job_id
        grant = session.wait(client, job_id)
    loris = socket.create_connection(("127.0.0.1", grant.port), timeout=30)
    hello = wire.control(wire.HELLO, {"token": "x" * 200})
    answer = b""
    try:
        for byte in hello:  # a byte a second: never a whole HELLO before the deadline
            loris.send(bytes([byte]))
            loris.settimeout(1.0)
            try:
                answer = loris.recv(100)
                break
            except TimeoutError:
                continue
    except OSError:
        pass
    loris.close()
    assert answer.startswith(bytes([wire.REFUSE]))
    audit = (cluster.cell.dir / "spool" / "node1" / "audit").read_text()
    assert f"job={job_id}.1 action=session_refuse" in audit and "no valid token within" in audit
    with cluster.client() as client:
        client.job_action("delete", [str(job_id)])
