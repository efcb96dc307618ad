"""README.md's "Install a cluster", followed to the letter on hosts of their own (tests.hostlab):
every command of its blocks runs on the hosts and as the users its ``<!-- on HOSTS as WHO -->``
line names, in order, and the cluster it builds runs the users' jobs as them.

Two things are the test's: a join line's ``<the token made for HOST>`` is the token the head
node printed for HOST, and ``make install`` is its last step, ``python -m qsys.install`` (the
links into /usr/local; the venv is this machine's own, shared by every test). Set
``QSYS_TRANSCRIPT=FILE`` to keep the transcript."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import pytest

from tests.clusterlib import REPO, ensure_user
from tests.hostlab import HostLab

pytestmark = pytest.mark.root
USER = "qsys_readme"  # a user of this test only: its home holds the jobs' output files
HOSTS = ["head", "node1", "node2", "login1"]
_BLOCK = re.compile(r"<!-- on (?P<hosts>[^>]+?) as (?P<who>root|a user) -->\n```sh\n(?P<body>.*?)```", re.S)


def readme_steps() -> list[tuple[list[str], str | None, list[str]]]:
    """(hosts, user or None for root, commands) of each block of the section, in order."""
    text = (REPO / "README.md").read_text()
    section = text.split("\n## Install a cluster\n", 1)[1].split("\n## ", 1)[0]
    steps = []
    for match in _BLOCK.finditer(section):
        hosts = HOSTS if match["hosts"] == "every host" else re.split(r",\s*|\s+and\s+", match["hosts"])
        commands = [re.split(r"\s{2,}#", line)[0].strip() for line in match["body"].splitlines()]
        steps.append((hosts, None if match["who"] == "root" else USER, [c for c in commands if c]))
    return steps


def test_the_readme_builds_a_cluster_that_runs_jobs_as_their_users(users: tuple[str, str]) -> None:
    ensure_user(USER)
    home = Path(os.path.expanduser(f"~{USER}"))
    for old in (home / "id.o1", home / "hostname.o2"):
        old.unlink(missing_ok=True)
    steps = readme_steps()
    assert [hosts for hosts, _, _ in steps] == [HOSTS, ["head"], ["node1"], ["node2"], ["login1"], ["login1"]]
    transcript: list[str] = []
    tokens: dict[str, str] = {}
    outputs: dict[str, str] = {}
    tmp = Path(tempfile.mkdtemp(prefix="qsys-readme-", dir="/tmp"))
    with HostLab(HOSTS, tmp) as lab:
        for hosts, user, commands in steps:
            for host in hosts:
                for command in commands:
                    ran = "/opt/qsys/venv/bin/python -m qsys.install" if command == "make install" else command
                    ran = re.sub(r"<the token made for (\S+)>", lambda m: tokens[m.group(1)], ran)
                    proc = lab[host].run(ran, user, timeout=180)
                    prompt = f"{user}@{host}$" if user else f"root@{host}#"
                    transcript.append(f"{prompt} {ran}\n{proc.stdout}{proc.stderr}")
                    assert proc.returncode == 0, "\n".join(transcript)
                    made = re.fullmatch(r"qsys token create --host (\S+) .*", command)
                    if made:
                        tokens[made.group(1)] = proc.stdout.strip()
                    outputs[f"{host}: {command}"] = proc.stdout
    if os.environ.get("QSYS_TRANSCRIPT"):
        Path(os.environ["QSYS_TRANSCRIPT"]).write_text("\n".join(transcript))
    assert outputs["login1: cat ~/id.o1 ~/hostname.o2"].split() == [USER, "node2"]
    record = outputs["login1: qacct -j 1"]
    assert re.search(rf"^owner\s+{USER}\s*$", record, re.M) and re.search(r"^hostname\s+node1\s*$", record, re.M)
    assert re.search(r"^exit_status\s+0\s*$", record, re.M)
    hosts = [line.split()[0] for line in outputs["login1: qhost"].splitlines()[3:]]
    assert hosts == ["node1", "node2"]
    used = outputs["head: qsys token list"]
    assert len(tokens) == 3 and all(token.split(".")[1] in used for token in tokens.values())
