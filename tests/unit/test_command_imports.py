"""The q-commands stay lean: qsys-restd's framework (the ``qsys[rest]`` extra: FastAPI, its
Starlette and pydantic, uvicorn, prometheus_client), the SSH libraries (asyncssh serves only
qsys-sshd, a daemon: ~200 ms of import against qrsh's ~50 ms start; paramiko is not used) and
the test-only libraries are never imported by a command's start-up (``python -X importtime`` names every module it loads) nor by
any module of qsys.cli, qsys.client or qsys.cluster."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.clusterlib import REPO

HEAVY = ("fastapi", "starlette", "pydantic", "uvicorn", "prometheus_client", "anyio", "jsonschema", "qsys.restd",
         "asyncssh", "paramiko")
COMMANDS = ("qsub", "qstat", "qdel", "qhold", "qhost", "qconf", "qacct", "qmod", "qalter", "qselect", "qrsh",
            "qlogin", "qrsub", "qrstat", "qrdel", "qquota")


def _imported(argv: list[str]) -> set[str]:
    """Top-level names of every module ``python -X importtime ARGV`` imported."""
    proc = subprocess.run([sys.executable, "-X", "importtime", *argv], capture_output=True, text=True,
                          timeout=60, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}, cwd="/")
    names = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            module = line.rsplit("|", 1)[1].strip()
            if module != "imported package":
                names.add(module)
    assert "encodings" in names, proc.stderr[-2000:]  # importtime did report
    return names


def _run_python(code: str) -> str:
    """What ``python -c CODE`` printed, in a fresh interpreter on this tree."""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}, cwd="/")
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _heavy(names: set[str]) -> list[str]:
    return sorted(n for n in names if any(n == h or n.startswith(h + ".") for h in HEAVY))


@pytest.mark.parametrize("command", COMMANDS)
def test_a_commands_help_imports_no_rest_framework(command: str) -> None:
    names = _imported(["-m", f"qsys.cli.{command}", "-help"])
    assert "qsys.cli" in names and "qsys.errors" in names  # the command itself started
    assert _heavy(names) == []


def test_no_module_of_the_commands_imports_the_rest_framework() -> None:
    code = ("import importlib, json, pkgutil, sys, qsys.cli, qsys.client, qsys.cluster, qsys.startup\n"
            "for package in (qsys.cli, qsys.startup):\n"
            "    for info in pkgutil.iter_modules(package.__path__, package.__name__ + '.'):\n"
            "        importlib.import_module(info.name)\n"
            "print(json.dumps(sorted(sys.modules)))\n")
    names = set(json.loads(_run_python(code)))
    assert {"qsys.cli.qsub", "qsys.cli.jsonout", "qsys.cli.csvout", "qsys.cli.xmlout", "qsys.cluster",
            "qsys.startup.sshclient"} <= names
    assert _heavy(names) == []


# what restd may import beyond the standard library and qsys, and the package that brings it
REST_PACKAGES = {"fastapi": "fastapi", "starlette": "fastapi", "pydantic": "fastapi", "uvicorn": "uvicorn",
                 "prometheus_client": "prometheus_client"}


def test_the_rest_extra_brings_everything_restd_imports() -> None:
    import ast
    import tomllib

    extra = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["rest"]
    brought = {requirement.split(">")[0].split("=")[0].split("[")[0].strip().lower() for requirement in extra}
    imported = set()
    for path in (REPO / "qsys" / "restd").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.partition(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.partition(".")[0])
    third_party = {name for name in imported if name not in sys.stdlib_module_names and name != "qsys"}
    assert third_party <= set(REST_PACKAGES), sorted(third_party - set(REST_PACKAGES))
    assert {REST_PACKAGES[name] for name in third_party} <= brought
    assert {"fastapi", "uvicorn", "prometheus_client"} <= third_party


def test_a_submissions_replies_decode_without_the_regular_expression_module() -> None:
    # the first decode of a type compiles its checks from the annotations: by hand, since
    # importing re (with enum and functools) cost every qsub ~4 ms
    code = ("import sys\n"
            "from qsys import protocol\n"
            "from qsys.records import Submitted\n"
            "for msg in (protocol.Challenge(nonce=b'n'), protocol.Welcome(user='u'),\n"
            "            protocol.Submitted(job_id=1, name='true', tasks=[1, 4, 1])):\n"
            "    assert protocol.decode(protocol.encode(msg)[4:]) == msg\n"
            "print(sorted({'re', 'enum', 'typing', 'pathlib'} & set(sys.modules)))\n")
    assert _run_python(code).strip() == "[]"


def test_annotations_tokenise_as_the_regular_expression_did() -> None:
    import re

    from qsys import protocol, record, records

    texts = ["dict[str, list[int]] | None", "tuple[int, ...]", 'Literal["a", 1]', "x....y", "1abc a.b_2[c]"]
    for module in (protocol, records):
        for value in vars(module).values():
            if isinstance(value, type) and hasattr(value, "__record_fields__"):
                texts += [str(t) for t in value.__dict__.get("__annotations__", {}).values()]
    pattern = re.compile(r"[A-Za-z_][\w.]*|\.\.\.|[\[\],|]")
    for text in texts:
        assert record._annotation_tokens(text) == pattern.findall(text), text
