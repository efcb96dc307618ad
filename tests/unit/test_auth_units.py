"""Host secrets, exec daemon proofs and join tokens (qsys.auth), the join command's small
parsers, and the proxy identity (execd.identity): pure logic."""

from __future__ import annotations

import pwd
from pathlib import Path

import pytest
from click.testing import CliRunner

from execd import identity
from qsys import auth
from qsys.errors import AuthenticationError, UsageError
from qsys.hostcmds import join, parse_ttl
from qsys.join import parse_master
from qsys.launch import Launch

KEY = bytes(range(32))


def test_host_secrets_differ_per_host_and_serial() -> None:
    secrets = {auth.host_secret(KEY, host, serial) for host in ("node1", "node2") for serial in (1, 2)}
    assert len(secrets) == 4
    assert auth.host_secret(KEY, "node1", 1) == auth.host_secret(KEY, "node1", 1)  # derived, never stored


def test_a_proof_holds_for_its_host_nonce_and_master_certificate_only() -> None:
    secret, nonce, binding = auth.host_secret(KEY, "node1", 1), b"n" * 16, b"c" * 32
    proof = auth.execd_proof(secret, nonce, "node1", binding)
    assert auth.proves(secret, nonce, "node1", proof, binding)
    assert not auth.proves(secret, nonce, "node2", proof, binding)  # another host's name
    assert not auth.proves(secret, b"m" * 16, "node1", proof, binding)  # another connection
    assert not auth.proves(secret, nonce, "node1", proof, b"d" * 32)  # relayed through another server
    assert not auth.proves(auth.host_secret(KEY, "node2", 1), nonce, "node1", proof, binding)


def test_join_tokens_round_trip_and_keep_only_a_digest() -> None:
    token = auth.JoinToken.new("ab" * 32)
    parsed = auth.JoinToken.parse(str(token))
    assert (parsed.id, parsed.secret, parsed.ca_pin) == (token.id, token.secret, "ab" * 16)
    digest = auth.token_digest(token.secret)
    assert token.secret not in digest and auth.digest_matches(token.secret, digest)
    assert not auth.digest_matches(token.secret + "x", digest)
    for bad in ("", "qsys1.a.b.c", "qsysjoin1.a.b", "qsysjoin1..b.c"):
        with pytest.raises(AuthenticationError, match="not a join token"):
            auth.JoinToken.parse(bad)


def test_credentials_name_their_host() -> None:
    nonce = b"x" * 16
    cred = auth.sign_credential(KEY, nonce, 0, "node1")
    assert auth.verify_credential(KEY, nonce, cred) == (0, "root", "node1")
    with pytest.raises(AuthenticationError):
        auth.verify_credential(KEY, nonce, {**cred, "host": "node2"})


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("90s", 90), ("30m", 1800), ("1h", 3600), ("2d", 172800)])
def test_ttl(text: str, seconds: int) -> None:
    assert parse_ttl(text) == seconds


@pytest.mark.parametrize(("text", "address"), [("head", ("head", 7444)), ("head:7555", ("head", 7555)),
                                                ("[fd00::1]:7555", ("fd00::1", 7555)), ("fd00::1", ("fd00::1", 7444))])
def test_master_address(text: str, address: tuple[str, int]) -> None:
    assert parse_master(text) == address


def test_a_bad_master_address_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        parse_master("head:port")


def test_qsys_join_exits_2_for_a_usage_error_and_1_for_a_failure(tmp_path: Path) -> None:
    """qsys(8): exit status 2 for a usage error (a bad MASTER as for a missing --token), 1 when
    the command failed (here: not a join token)."""
    token = "qsysjoin1." + ".".join(["ab" * 4, "c" * 32, "d" * 32])
    argv = ["--root", str(tmp_path), "--no-start"]
    bad_master = CliRunner().invoke(join, ["head:port", "--token", token, *argv])
    assert (bad_master.exit_code, "MASTER is HOST or HOST:PORT" in bad_master.output) == (2, True), bad_master.output
    assert CliRunner().invoke(join, ["head", *argv]).exit_code == 2  # click's own: --token missing
    bad_token = CliRunner().invoke(join, ["head", "--token", "nonsense", *argv])
    assert (bad_token.exit_code, "not a join token" in bad_token.output) == (1, True), bad_token.output


def _launch(owner: str) -> Launch:
    return Launch(job_id=1, task_id=1, is_array=False, spec={}, owner=owner, uid=0, group="", gid=0,
                  queue="all.q", host="node1", slots=1, total_slots=1)


def test_proxy_mode_runs_every_job_as_the_proxy_account() -> None:
    nobody = pwd.getpwnam("nobody")
    policy = identity.IdentityPolicy.from_conf({"execd_mode": "service", "execd_identity": "proxy",
                                                "proxy_account": "nobody"})
    assert policy.proxy and policy.identity == "proxy" and identity.IdentityPolicy.from_conf(policy.to_conf()) == policy
    ident = identity.decide(policy, _launch("somebody"))  # the submitter need not exist here
    assert (ident.user, ident.uid, ident.submitter) == ("nobody", nobody.pw_uid, "somebody")
    assert identity.action_of(ident) == "proxy"


@pytest.mark.parametrize(("conf", "message"), [
    ({"proxy_account": "root"}, "jobs do not run as root"),
    ({}, "no proxy_account is configured"),
    ({"proxy_account": "no_such_account_qsys"}, "does not exist on this host"),
    ({"proxy_account": "nobody", "execd_deny_users": "somebody"}, "user somebody is denied"),
])
def test_proxy_mode_refuses(conf: dict[str, str], message: str) -> None:
    policy = identity.IdentityPolicy.from_conf({"execd_mode": "service", "execd_identity": "proxy", **conf})
    with pytest.raises(identity.IdentityRefused, match=message):
        identity.decide(policy, _launch("somebody"))
