"""Who qsys-restd says is asking: the kernel on its Unix socket, a signed token over TCP, and
the master's own rules for that person (service mode, real users)."""

from __future__ import annotations

import base64
import pwd
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from qsys import auth
from tests.clusterlib import Cluster, wait_until
from tests.restlib import Restd


@pytest.fixture
def service(qsys_root: Path, users: tuple[str, str]) -> Iterator[Cluster]:
    with Cluster(qsys_root / "cell", hosts=["node1"], slots=4, mode="service") as c:
        yield c


@pytest.fixture
def restd(service: Cluster) -> Iterator[Restd]:
    with Restd(service) as r:
        yield r


def _held_job(restd: Restd, token: str) -> int:
    reply = restd.tcp("POST", "/api/v1/jobs", token, {"command": ["/bin/true"], "options": ["-h"]})
    assert reply.status == 201, reply
    return int(reply.json["job_id"])


def test_unix_socket_caller_is_who_the_kernel_says(restd: Restd, users: tuple[str, str]) -> None:
    alice, _ = users
    who = restd.unix_as(alice, "GET", "/api/v1/whoami")
    assert who.status == 200 and who.json["user"] == alice and who.json["via"] == "unix"
    assert who.json["uid"] == pwd.getpwnam(alice).pw_uid
    submitted = restd.unix_as(alice, "POST", "/api/v1/jobs", {"command": ["/bin/true"], "options": ["-h"]})
    assert submitted.status == 201, submitted
    jobs = restd.unix("GET", "/api/v1/jobs").json
    assert [(j["job_id"], j["owner"]) for j in jobs] == [(submitted.json["job_id"], alice)]


def test_a_user_gets_a_token_from_restd_and_acts_as_herself(restd: Restd, users: tuple[str, str]) -> None:
    alice, _ = users
    command = [sys.executable, "-m", "qsys.cluster", "token", "user", "--ttl", "600"]
    proc = subprocess.run(restd.cluster._as_user(command, alice), env=restd.cluster.env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    token = proc.stdout.strip()
    assert restd.tcp("GET", "/api/v1/whoami", token).json["user"] == alice
    job_id = _held_job(restd, token)
    assert restd.tcp("GET", f"/api/v1/jobs/{job_id}", token).json["owner"] == alice
    # a token cannot mint its successor, and a user cannot ask the key holder's path for another user
    assert restd.tcp("POST", "/api/v1/tokens", token, {"ttl": 600}).status == 403
    other = subprocess.run(restd.cluster._as_user([*command, "--user", "root"], alice), env=restd.cluster.env,
                           capture_output=True, text=True, timeout=60)
    assert other.returncode != 0 and "only a holder of the cluster key" in other.stderr


def test_a_token_for_one_user_cannot_touch_another_users_job(restd: Restd, users: tuple[str, str]) -> None:
    alice, bob = users
    alice_token, bob_token = restd.token(alice), restd.token(bob)
    job_id = _held_job(restd, alice_token)
    refusals = [
        (restd.tcp("DELETE", f"/api/v1/jobs/{job_id}", bob_token),
         f'{bob} - you do not have the necessary privileges to delete the job "{job_id}"'),
        (restd.tcp("POST", f"/api/v1/jobs/{job_id}/release", bob_token, {}),
         f'{bob} - you do not have the necessary privileges to modify the job "{job_id}"'),
        (restd.tcp("PATCH", f"/api/v1/jobs/{job_id}", bob_token, {"options": ["-N", "stolen"]}),
         f'{bob} - you do not have the necessary privileges to modify the job "{job_id}"'),
    ]
    for reply, message in refusals:
        assert (reply.status, reply.json["error"]) == (403, message)
    # a user name in the request is never believed
    spoof = restd.tcp("DELETE", f"/api/v1/jobs/{job_id}", bob_token, headers={"X-Remote-User": alice})
    assert spoof.status == 403
    job = restd.tcp("GET", f"/api/v1/jobs/{job_id}", alice_token).json
    assert job["spec"]["name"] == "true" and job["state"] == "hqw", "bob changed nothing"
    assert restd.tcp("DELETE", f"/api/v1/jobs/{job_id}", alice_token).json == {
        "lines": [f"{alice} has deleted job {job_id}"], "exit": 0}


def test_configuring_needs_a_manager(restd: Restd, users: tuple[str, str]) -> None:
    alice, _ = users
    change = {"mode": "mattr", "attr": "slots", "value": "2", "objects": ["all.q"]}
    refused = restd.tcp("PATCH", "/api/v1/config/queue", restd.token(alice), change)
    assert (refused.status, refused.json["error"]) == (403, f'denied: "{alice}" must be manager for this operation')
    priority = restd.tcp("POST", "/api/v1/jobs", restd.token(alice), {"command": ["/bin/true"], "options": ["-p", "5"]})
    assert priority.status == 403 and "positive submission priority" in priority.json["error"]
    disable = restd.tcp("POST", "/api/v1/queues/all.q/disable", restd.token(alice))
    assert disable.status == 403, disable
    root = restd.token("root")
    assert restd.tcp("GET", "/api/v1/config/queue?name=all.q", root).json["data"]["slots"] == "4"
    assert restd.tcp("PATCH", "/api/v1/config/queue", root, change).status == 200
    assert restd.tcp("GET", "/api/v1/config/queue?name=all.q", root).json["data"]["slots"] == "2"


def _forged(key: bytes, uid: int, expiry: int) -> str:
    user = pwd.getpwuid(uid).pw_name
    body = f"{uid}:{user}:{expiry}:00".encode()
    mac = auth._mac(key, b"user-token", body)
    encode = auth._b64
    return f"qsys1.{encode(body)}.{encode(mac)}"


def test_forged_expired_and_malformed_tokens_are_401(restd: Restd, users: tuple[str, str]) -> None:
    alice, _ = users
    uid = pwd.getpwnam(alice).pw_uid
    key = auth.load_key(restd.cluster.cell.key_file)
    good = restd.token(alice)
    prefix, body, sig = good.split(".")
    root_body = base64.urlsafe_b64encode(base64.urlsafe_b64decode(body + "==").replace(
        f"{uid}:{alice}".encode(), b"0:root")).rstrip(b"=").decode()
    cases = {
        "no token": (None, "needs a token"),
        "other key": (_forged(b"k" * 32, uid, 2**31), "signature does not match"),
        "expired": (_forged(key, uid, 1_000_000), "token expired"),
        "body changed to root": (f"{prefix}.{root_body}.{sig}", "signature does not match"),
        "garbage": ("garbage", "malformed token"),
        "dots": ("...", "malformed token"),
        "bad base64": ("qsys1.%%%.%%%", "malformed token"),
        "binary junk": ("qsys1.AAAA.AAAA", "malformed token"),
        "wrong prefix": (f"jwt1.{body}.{sig}", "malformed token"),
    }
    for name, (token, why) in cases.items():
        for method, path, payload in (("GET", "/api/v1/jobs", None),
                                      ("POST", "/api/v1/jobs", {"command": ["/bin/true"]})):
            reply = restd.tcp(method, path, token, payload)
            assert reply.status == 401, (name, reply)
            assert why in reply.json["error"], (name, reply)
            assert reply.headers["www-authenticate"].startswith("Bearer")
    header = restd.tcp("GET", "/api/v1/jobs", headers={"Authorization": "Basic YWxpY2U6eA=="})
    assert header.status == 401 and "malformed Authorization header" in header.json["error"]
    assert restd.tcp("GET", "/api/v1/jobs", good).status == 200
    assert restd.unix("GET", "/api/v1/jobs").json == [], "no refused request submitted anything"


def test_open_monitoring_serves_reads_only(service: Cluster, users: tuple[str, str]) -> None:
    with Restd(service, restd_monitoring="open") as restd:
        wait_until(lambda: restd.tcp("GET", "/api/v1/summary").status == 200, 10, "the summary")
        who = restd.tcp("GET", "/api/v1/whoami").json
        assert (who["user"], who["via"]) == ("nobody", "monitor")
        assert restd.tcp("GET", "/metrics").status == 200
        assert restd.tcp("GET", "/api/v1/hosts").status == 200
        refused = restd.tcp("POST", "/api/v1/jobs", None, {"command": ["/bin/true"]})
        assert refused.status == 401 and "needs a token" in refused.json["error"]
        assert restd.tcp("DELETE", "/api/v1/jobs/1").status == 401
    with Restd(service) as closed:
        assert closed.tcp("GET", "/api/v1/summary").status == 401
