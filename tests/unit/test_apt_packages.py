"""``make test`` sets up a fresh Debian 12 machine: every program the tests run comes from a
package in the Makefile's APT_TEST list, or from one a Debian system always has (priority
required). Checked on this machine with dpkg, which knows which package installed each file."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# what the cluster, remote-startup, PAM, MPI, X11, man-page and dashboard tests call
PROGRAMS = ["ip", "unshare", "nsenter", "runuser", "setsid", "mount", "umount", "hostname", "useradd",
            "chpasswd", "pgrep", "pkill", "ps", "sshd", "ssh", "ssh-keygen", "systemd-analyze", "man", "groff",
            "Xvfb", "xdpyinfo", "xauth", "tcsh", "mpirun", "mpicc", "gcc", "make", "in.rlogind", "in.rshd",
            "telnet", "rlogin", "chromium", "chromedriver", "prometheus", "promtool", "musl-gcc"]


def apt_test() -> set[str]:
    text = (REPO / "Makefile").read_text().replace("\\\n", " ")
    lists = dict(re.findall(r"^(APT_\w+) := (.*)$", text, re.M))
    return set(lists["APT_TEST"].replace("$(APT_RUN)", lists["APT_RUN"]).split())


def packages_of(programs: list[str]) -> dict[str, str]:
    """The package that installed each program (found on PATH, its link resolved, or under the
    pre-/usr-merge path dpkg may have recorded), from one dpkg-query."""
    paths = {}
    for program in programs:
        path = shutil.which(program, path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        assert path, f"{program} is not installed"
        # in this order: the package of the link on PATH (gcc), not of what it points to (gcc-12)
        paths[program] = list(dict.fromkeys([path, re.sub(r"^/usr", "", path), str(Path(path).resolve())]))
    every = sorted({candidate for candidates in paths.values() for candidate in candidates})
    out = subprocess.run(["dpkg-query", "-S", *every], capture_output=True, text=True).stdout
    owner = {line.split(": ", 1)[1]: line.split(":", 1)[0].split(",")[0] for line in out.splitlines() if ": " in line}
    found = {}
    for program, candidates in paths.items():
        known = [owner[c] for c in candidates if c in owner]
        assert known, f"no package installed {program} ({candidates})"
        found[program] = known[0]
    return found


def test_every_program_the_tests_run_comes_from_a_listed_or_required_package() -> None:
    listed = apt_test()
    packages = packages_of(PROGRAMS)
    out = subprocess.run(["dpkg-query", "-W", "-f=${Package} ${Priority}\n", *set(packages.values())],
                         capture_output=True, text=True, check=True).stdout
    required = {line.split()[0] for line in out.splitlines() if line.endswith(" required")}
    missing = {program: package for program, package in packages.items() if package not in listed | required}
    assert not missing, f"add to APT_TEST in the Makefile: {missing}"
    assert "postgresql" in listed  # tests.pg runs the server's own initdb and pg_ctl
