"""A joined host's credential signer on its real Unix socket: the credential names the caller
the kernel sees (SO_PEERCRED), whatever the request says, and is signed with the host secret."""

from __future__ import annotations

import ast
import asyncio
import os
import pwd
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from qsys import auth
from qsys.signer import Signer
from tests.clusterlib import REPO

SECRET = auth.host_secret(bytes(32), "node5", 1)


@pytest.fixture
def signer(qsys_root: Path) -> Iterator[Path]:
    path = qsys_root / "signer.sock"
    loop = asyncio.new_event_loop()
    server = Signer(str(path), "node5", SECRET)
    loop.run_until_complete(server.start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield path
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    server.close()
    loop.close()


_ASK = textwrap.dedent("""
    import sys
    from qsys import protocol, signer
    print(signer.ask(sys.argv[1], b"n" * 16))
    import _socket  # a request naming another uid is still answered for the caller
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM); sock.connect(sys.argv[1])
    protocol.send_sync(sock, protocol.Hello(credential={"uid": 0}))
    print(protocol.recv_sync(sock))
""")


def test_the_signer_signs_for_the_caller_the_kernel_names(signer: Path, users: tuple[str, str]) -> None:
    alice = users[0]
    proc = subprocess.run(["runuser", "-u", alice, "--", sys.executable, "-c", _ASK, str(signer)],
                          capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr
    credential_text, refusal = proc.stdout.splitlines()
    credential = ast.literal_eval(credential_text)
    uid = pwd.getpwnam(alice).pw_uid
    assert auth.verify_credential(SECRET, b"n" * 16, credential) == (uid, alice, "node5")
    assert "Fail(kind='protocol'" in refusal and "not Hello" in refusal
