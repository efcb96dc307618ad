"""A newcomer's first steps (issue 10, items 11 and 12): `make demo` shows its job waiting,
running and finished, the runtime install carries runtime dependencies only, and README.md
names only files that exist and says where job output goes."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.clusterlib import REPO, ensure_user

TEST_ONLY = ("pytest", "pexpect", "hypothesis", "ruff", "mypy", "psycopg", "selenium", "jsonschema")


def test_make_demo_shows_the_job_waiting_running_and_finished(qsys_root: Path) -> None:
    """The demo's recipe as a newcomer runs it (an ordinary user with a home of their own),
    without its install step (the venv is shared)."""
    user = "qsys_demo"
    ensure_user(user)
    home, demo = Path(pwd.getpwnam(user).pw_dir), qsys_root / "demo"
    demo.mkdir()
    shutil.chown(demo, user)
    env = [f"PATH={os.environ['PATH']}", f"PYTHONPATH={REPO}", f"HOME={home}", f"USER={user}"]
    bin_dir = Path(sys.executable).parent
    as_user = ["runuser", "-u", user, "--", "env", "-i", *env]
    try:
        proc = subprocess.run([*as_user, "make", "-s", "-o", "install", "demo", f"DEMO_ROOT={demo}", f"BIN={bin_dir}"],
                              cwd=REPO, capture_output=True, text=True, timeout=240)
        out = proc.stdout
        assert proc.returncode == 0, out + proc.stderr
        first_listing = out.split("state hqw", 1)[1]
        assert re.search(r"^ +1 \S+ demo +\S+ +hqw ", first_listing, re.M), out  # the first qstat shows it
        assert re.search(r"^ +1 \S+ demo +\S+ +r ", out, re.M), out
        finished = out.split("qstat -s z lists it as finished (z):", 1)[1]
        assert re.search(r"^ +1 \S+ demo +\S+ +z ", finished, re.M), out
        assert "hello from job 1 on " in out and re.search(r"^exit_status +0", out, re.M), out
    finally:
        down = subprocess.run([*as_user, f"QSYS_ROOT={demo}", sys.executable, "-m", "qsys.cluster", "down",
                               "--kill-jobs"], cwd="/tmp", capture_output=True, text=True, timeout=90)
        (home / "demo.o1").unlink(missing_ok=True)
    assert down.returncode == 0, down.stdout + down.stderr


def test_the_runtime_install_carries_runtime_dependencies_only() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    runtime = [re.split(r"[<>=\[ ]", d, maxsplit=1)[0].lower() for d in project["dependencies"]]
    assert not set(runtime) & set(TEST_ONLY), runtime
    assert set(TEST_ONLY) <= {re.split(r"[<>=\[ ]", d, maxsplit=1)[0].lower()
                              for d in project["optional-dependencies"]["test"]}
    makefile = (REPO / "Makefile").read_text()
    runtime_recipe = makefile.split("$(BIN)/qsub: ", 1)[1].split("\n\n", 1)[0]
    assert "pip install -q .\n" in runtime_recipe and "[test]" not in runtime_recipe
    assert "pip install -q '.[test]'" in makefile.split("$(VENV)/.test-deps:", 1)[1].split("\n\n", 1)[0]


def test_the_readme_names_files_that_exist_and_says_where_output_goes() -> None:
    text = (REPO / "README.md").read_text()
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text):  # relative links
        assert (REPO / target).exists(), target
    for named in re.findall(r"`((?:docs|man|conf|wrappers|tests|bench|qsys|execd|drmaa)/[\w./-]+)`", text):
        assert (REPO / named).exists(), named
    assert "docs/design.md" in text and "DESIGN.md" not in text.replace("docs/design.md", "")
    assert "tools/sge/setup.sh" not in text
    assert "`NAME.oJOBID`" in text and "qacct -j" in text and "qstat -s z" in text
