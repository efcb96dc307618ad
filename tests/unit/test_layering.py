"""Who may import whom: the exec daemon and the clients share only leaf modules.

Read from the sources (every import statement, also the deferred ones inside functions), so a
new import across the line fails here before it tangles the packages.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# The modules of qsys that both sides (master and clients, exec daemons) may import.
SHARED_LEAVES = {
    "qsys.accounting_file", "qsys.admission", "qsys.auth", "qsys.daemonize", "qsys.errors", "qsys.execlink",
    "qsys.launch", "qsys.logbounds", "qsys.logfile", "qsys.output_paths", "qsys.paths", "qsys.signer", "qsys.tls",
    "qsys.protocol", "qsys.record", "qsys.remote", "qsys.remote.addresses", "qsys.remote.wire",
    "qsys.remote.sshkeys", "qsys.remote.x11",
}


def imports(path: Path) -> set[str]:
    """The qsys/execd modules a file imports (``from qsys import auth`` counts as qsys.auth)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names
                         if (REPO / node.module.replace(".", "/") / f"{alias.name}.py").exists())
    return {name for name in found if name.split(".")[0] in ("qsys", "execd")}


def files(*patterns: str) -> list[Path]:
    return sorted(path for pattern in patterns for path in REPO.glob(pattern))


@pytest.mark.parametrize("path", files("execd/*.py"), ids=lambda p: p.name)
def test_the_exec_daemon_imports_only_shared_leaves(path: Path) -> None:
    outside = {name for name in imports(path) if name.startswith("qsys")} - SHARED_LEAVES - {"qsys"}
    assert outside == set()


@pytest.mark.parametrize("path", files("qsys/cli/*.py", "qsys/startup/*.py", "qsys/acct.py", "qsys/client.py"),
                         ids=lambda p: str(p.relative_to(REPO)))
def test_clients_import_neither_the_master_nor_the_exec_daemon(path: Path) -> None:
    crossing = {name for name in imports(path)
                if name.startswith(("qsys.master", "qsys.store", "qsys.sched", "execd"))}
    assert crossing == set()


@pytest.mark.parametrize("path", files("qsys/remote/*.py", "qsys/accounting_file.py", "qsys/logfile.py",
                                       "qsys/output_paths.py"),
                         ids=lambda p: str(p.relative_to(REPO)))
def test_leaves_import_no_other_qsys_module(path: Path) -> None:
    assert {name for name in imports(path) if not name.startswith("qsys.remote")} == set()
