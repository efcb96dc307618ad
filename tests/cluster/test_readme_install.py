"""README.md's "Install a cluster", followed to the letter on hosts of their own (tests.hostlab):
every command of its blocks runs on the hosts and as the users its ``<!-- on HOSTS as WHO -->``
line names, in order, and the cluster it builds runs the users' jobs as them.

Two things are the test's: a join line's ``<the token made for HOST>`` is the token the head
node printed for HOST, and ``make install`` is its last step, ``python -m qsys.install`` (the
links into /usr/local; the venv is this machine's own, shared by every test). After the README,
the test's own steps show what its prose says: a used token refused to another host (node3), a
running job in qstat, and a revoked host refused. Set ``QSYS_TRANSCRIPT=FILE`` to keep the
transcript of it all (commands and their outputs)."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.clusterlib import REPO, ensure_user, wait_until
from tests.hostlab import HostLab

pytestmark = pytest.mark.root
USER = "qsys_readme"  # a user of this test only, with a home of the lab's own for the jobs' output
HOSTS = ["head", "node1", "node2", "login1"]
NEW = "node3"  # a host of the test's own steps: it tries node1's used token
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


class Transcript:
    """Runs commands on the lab's hosts and keeps each with its output, as a shell shows them."""

    def __init__(self, lab: HostLab) -> None:
        self.lab = lab
        self.lines: list[str] = []

    def note(self, text: str) -> None:
        self.lines.append(f"# {text}\n")

    def run(self, host: str, command: str, user: str | None = None, *, ok: bool = True,
            keep: bool = True) -> subprocess.CompletedProcess[str]:
        proc = self.lab[host].run(command, user, timeout=180)
        prompt = f"{user}@{host}$" if user else f"root@{host}#"
        status = "" if proc.returncode == 0 else f"[exit {proc.returncode}]\n"
        if keep:
            self.lines.append(f"{prompt} {command}\n{proc.stdout}{proc.stderr}{status}")
        assert (proc.returncode == 0) == ok, "\n".join([*self.lines, f"{prompt} {command}\n{proc.stdout}{proc.stderr}"])
        return proc


def test_the_readme_builds_a_cluster_that_runs_jobs_as_their_users(users: tuple[str, str]) -> None:
    ensure_user(USER)
    steps = readme_steps()
    assert [hosts for hosts, _, _ in steps] == [HOSTS, ["head"], ["node1"], ["node2"], ["login1"], ["login1"]]
    tokens: dict[str, str] = {}
    outputs: dict[str, str] = {}
    tmp = Path(tempfile.mkdtemp(prefix="qsys-readme-", dir="/tmp"))
    with HostLab([*HOSTS, NEW], tmp, homes=[USER]) as lab:
        shell = Transcript(lab)
        shell.note("README.md, Install a cluster, to the letter")
        for hosts, user, commands in steps:
            for host in hosts:
                for command in commands:
                    ran = "/opt/qsys/venv/bin/python -m qsys.install" if command == "make install" else command
                    ran = re.sub(r"<the token made for (\S+)>", lambda m: tokens[m.group(1)], ran)
                    proc = shell.run(host, ran, user)
                    made = re.fullmatch(r"qsys token create --host (\S+) .*", command)
                    if made:
                        tokens[made.group(1)] = proc.stdout.strip()
                    outputs[f"{host}: {command}"] = proc.stdout
        assert outputs["login1: cat ~/id.o1 ~/hostname.o2"].split() == [USER, "node2"]
        record = outputs["login1: qacct -j 1"]
        assert re.search(rf"^owner\s+{USER}\s*$", record, re.M) and re.search(r"^hostname\s+node1\s*$", record, re.M)
        assert re.search(r"^exit_status\s+0\s*$", record, re.M)
        hosts = [line.split()[0] for line in outputs["login1: qhost"].splitlines()[3:]]
        assert hosts == ["node1", "node2"]

        shell.note("after the README: a used token admits no other host")
        shell.run(NEW, "/opt/qsys/venv/bin/python -m qsys.install")
        refused = shell.run(NEW, f"qsys join head --token {tokens['node1']}", ok=False)
        token_id = tokens["node1"].split(".")[1]
        assert f"join token {token_id} was used already (by node1" in refused.stderr
        used = shell.run("head", "qsys token list").stdout
        assert all(re.search(rf"^{t.split('.')[1]} .* used by {h} at ", used, re.M) for h, t in tokens.items()), used

        shell.note("a job of the user, running, in qstat; its id and its owner on the exec host")
        job = shell.run("login1", "qsub -terse -b y -q all.q@node2 sleep 600", USER).stdout.strip()
        wait_until(lambda: re.search(rf"^\s*{job} .* r ", lab["login1"].run("qstat", USER).stdout, re.M), 60,
                   f"job {job} to run")
        listed = shell.run("login1", "qstat", USER).stdout
        assert re.search(rf"^\s*{job} .* {USER} +r .* all.q@node2 ", listed, re.M), listed
        seen = shell.run("node2", "ps -o user:16=,args= -p $(pgrep -d, --ns $$ --nslist mnt -f '^sleep 600')").stdout
        assert seen.split() == [USER, "sleep", "600"], seen  # the one such process of node2, its owner's
        shell.run("login1", f"qdel {job}", USER)
        wait_until(lambda: not lab["head"].run("qstat -s r -u '*'").stdout.strip(), 60, "node2 to be idle")

        shell.note("the head node revokes node2: its exec daemon and its users are refused")
        removed = shell.run("head", "qconf -de node2").stderr  # Grid Engine's qconf answers on stderr
        assert 'removed "node2" from exechost list' in removed
        log = lab["node2"].path("/var/lib/qsys/default/spool/node2/messages")
        wait_until(lambda: "refused by the master" in log.read_text(), 30, "node2's exec daemon to be refused")
        shell.run("node2", "grep -m1 'refused by the master' /var/lib/qsys/default/spool/node2/messages")
        denied = shell.run("node2", "qstat", USER, ok=False)
        assert 'host "node2" was removed from the cell' in denied.stderr
        assert [line.split()[0] for line in shell.run("head", "qhost").stdout.splitlines()[3:]] == ["node1"]
    if os.environ.get("QSYS_TRANSCRIPT"):
        Path(os.environ["QSYS_TRANSCRIPT"]).write_text("\n".join(shell.lines))
