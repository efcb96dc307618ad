"""Join tokens and joined hosts against a master built in the test's process (``build_master``)
on its real TLS port: what a token admits, what a join makes of a host, what revoking does,
and that all of it survives a restart of the master."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest

from qsys import auth, certs, protocol
from qsys import join as joining
from qsys.client import Client
from qsys.cluster import new_cell
from qsys.errors import AuthenticationError, PermissionDenied
from qsys.master.main import build_master
from qsys.paths import Cell
from qsys.testing.clock import FakeClock


def _token(cell: Cell, hosts: str = "*", ttl: int = 600) -> str:
    with Client(cell) as client:
        return client.request(protocol.TokenCreate(hosts, ttl), protocol.TokenIssued).token


def _delete_submit_host(cell: Cell, host: str) -> protocol.Lines:
    with Client(cell) as client:
        return client.conf("delete", "submithost", host)


def _join(master: Cell, joiner: Cell, token_text: str, host: str, submit_only: bool = False) -> protocol.JoinGrant:
    port = int(master.bootstrap()["master_port"])
    token = auth.JoinToken.parse(token_text)
    ca = joining.fetch_ca("127.0.0.1", port, token)
    certs.write_public(joiner.ca_cert, ca.ca.encode())
    csr, _key = certs.request(host)
    return joining.request_join(joiner, "127.0.0.1", port, protocol.JoinRequest(
        token.id, token.secret, host, csr.decode(), submit_only, 3))


def test_tokens_admit_one_join_of_the_hosts_they_name(qsys_root: Path) -> None:
    cell = Cell(qsys_root / "master", "default")
    new_cell(cell, hosts=1, slots=1, port=0, store_url=None)
    joiner = Cell(qsys_root / "joiner", "default")
    clock = FakeClock(1_900_000_000.0)

    async def run() -> None:
        daemon = build_master(cell, clock=clock, port=0, bind="127.0.0.1")
        await daemon.start()
        members = daemon.server.members
        try:
            token = await asyncio.to_thread(_token, cell, "node*")
            grant = await asyncio.to_thread(_join, cell, joiner, token, "node7")
            assert grant.host == "node7" and grant.serial == 1 and grant.exec_host
            assert grant.secret == auth.host_secret(daemon.state.key, "node7", 1)
            assert certs.names_of(grant.certificate.encode()) == ["node7"]
            config = daemon.state.config
            assert "node7" in config.exec_hosts and "node7" in config.submit_hosts
            assert config.queues["all.q"].overrides["slots"]["node7"] == 3

            with pytest.raises(AuthenticationError, match="was used already .by node7"):
                await asyncio.to_thread(_join, cell, joiner, token, "node8")
            other = await asyncio.to_thread(_token, cell, "gpu*")
            with pytest.raises(AuthenticationError, match='is for hosts matching "gpu\\*", not for "node8"'):
                await asyncio.to_thread(_join, cell, joiner, other, "node8")
            clock.advance(601)
            with pytest.raises(AuthenticationError, match="expired at"):
                await asyncio.to_thread(_join, cell, joiner, other, "gpu1")
            forged = auth.JoinToken.parse(await asyncio.to_thread(_token, cell))
            forged.secret = "not-the-secret"
            with pytest.raises(AuthenticationError, match="is not valid here"):
                await asyncio.to_thread(_join, cell, joiner, str(forged), "node8")

            again = await asyncio.to_thread(_join, cell, joiner, await asyncio.to_thread(_token, cell), "node7")
            assert again.serial == 2 and again.secret != grant.secret  # the old secret is worthless now
            nonce = auth.new_nonce()
            with pytest.raises(AuthenticationError):
                members.verify_credential(auth.sign_credential(grant.secret, nonce, 0, "node7"), nonce)
            assert members.verify_credential(auth.sign_credential(again.secret, nonce, 0, "node7"), nonce)[2] == "node7"
            submit = await asyncio.to_thread(_join, cell, joiner, await asyncio.to_thread(_token, cell), "login3", True)
            assert not submit.exec_host and "login3" not in config.exec_hosts and "login3" in config.submit_hosts
        finally:
            await daemon.stop()

        daemon = build_master(cell, clock=clock, port=None)  # everything above is in the store
        members = daemon.server.members
        try:
            assert members.hosts["node7"].serial == 2 and members.hosts["login3"].exec_host is False
            assert {t.state(clock.now()) for t in members.tokens.values()} == {"used", "expired", "unused"}
            nonce = auth.new_nonce()
            credential = auth.sign_credential(submit.secret, nonce, 0, "login3")
            assert members.verify_credential(credential, nonce)[2] == "login3"
            await daemon.start()
            deleted = await asyncio.to_thread(_delete_submit_host, cell, "login3")
            assert deleted.lines == ["login3 removed from submit host list"]
            with pytest.raises(AuthenticationError, match='host "login3" was removed from the cell .qconf -ds'):
                members.verify_credential(credential, nonce)
            await asyncio.to_thread(_delete_submit_host, cell, "node7")  # an exec host: it keeps its secret
            assert not members.hosts["node7"].revoked
            with pytest.raises(PermissionDenied, match='host "node7" is neither submit nor admin host'):
                members.verify_credential(auth.sign_credential(again.secret, nonce, 0, "node7"), nonce)
        finally:
            await daemon.stop()

    asyncio.run(run())


def test_a_hosts_certificate_cannot_serve_as_the_masters(qsys_root: Path) -> None:
    """Every certificate chains to the cell CA, but only the master's is for a server: a
    joined host with a name in its certificate still cannot pose as the master."""
    ca_pem, ca_key = certs.make_ca("default", "head")
    csr, key = certs.request("127.0.0.1")
    host_cert = certs.issue_for_request(ca_pem, ca_key, csr, "127.0.0.1")
    (qsys_root / "ca.pem").write_bytes(ca_pem)
    (qsys_root / "host.pem").write_bytes(host_cert)
    (qsys_root / "host.key").write_bytes(key)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(qsys_root / "host.pem", qsys_root / "host.key")
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.load_verify_locations(cafile=str(qsys_root / "ca.pem"))

    async def run() -> str:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.close()

        listening = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=server)
        port = listening.sockets[0].getsockname()[1]
        try:
            await asyncio.open_connection("127.0.0.1", port, ssl=client, server_hostname="127.0.0.1")
        except ssl.SSLCertVerificationError as exc:
            return str(exc.verify_message)
        finally:
            listening.close()
        return "accepted"

    assert asyncio.run(run()) == "unsuitable certificate purpose"
