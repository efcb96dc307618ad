"""Launchers for the q-commands that start the interpreter without its ``site`` module.

pip's console scripts start Python with ``site``: it reads every ``.pth`` file of the
environment (setuptools' distutils hack imports a module on each start), imports Debian's
``sitecustomize`` (apport's hook), looks for a user site and only then adds site-packages to
``sys.path`` -- a third of what an idle interpreter executes (21 instead of 30 million
instructions, ~3 ms of a qsub). A q-command needs none of it: a launcher written here starts
``python -S`` and adds to ``sys.path`` the directories qsys and the distributions it requires
are installed in, found once when it is written. ``PYTHONPATH`` still comes first (tests and
benchmarks point it at a source tree); ``-E`` would save nothing measurable and lose that.

    python -I -m qsys.launchers [BIN_DIR]

(``make install`` runs it after pip: ``-I`` so that the installed qsys is the one found.)
It replaces the console scripts of the q-commands (the entry points in ``qsys.cli``) in
``BIN_DIR``, the directory of this interpreter by default; the daemons and ``qsys`` keep pip's.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

COMMANDS_PACKAGE = "qsys.cli."  # the entry points that get a launcher
_MAX_SHEBANG = 127  # what the kernel reads of a "#!" line


def launcher_text(python: str, entry_point: str, path: Iterable[str]) -> str:
    """A launcher that runs ``entry_point`` (``module:function``, whose return value is the exit
    status) with ``python -S`` and ``path`` after the interpreter's own entries."""
    module, _, function = entry_point.partition(":")
    return (f"#!{python} -S\n"
            "# written by qsys.launchers: Python without its site module, see there\n"
            "import sys\n"
            "if not sys.flags.safe_path:\n"
            "    del sys.path[0]  # this script's directory: nothing to import there\n"
            f"sys.path += {list(path)!r}\n"
            f"from {module} import {function}\n"
            f"sys.exit({function}())\n")


def shebang_safe(python: str) -> bool:
    """Can ``python -S`` be a "#!" line (one argument, no blank in the path, not too long)?"""
    return not any(c.isspace() for c in python) and len(python) + 4 <= _MAX_SHEBANG


def requirement_name(requirement: str) -> str:
    """The distribution a requirement names (``"msgpack>=1.0"`` -> ``"msgpack"``)."""
    found = re.match(r"[A-Za-z0-9._-]+", requirement)
    return found.group() if found else ""


def search_path() -> list[str]:
    """Where the installed qsys and the distributions it requires (its extras left out) are:
    mostly one site-packages directory."""
    from importlib import metadata

    import qsys

    dirs = [str(Path(qsys.__file__).resolve().parent.parent)]
    for requirement in metadata.requires("qsys") or []:
        if ";" in requirement:  # "...; extra == 'test'": no command imports those
            continue
        try:
            dist = metadata.distribution(requirement_name(requirement))
        except metadata.PackageNotFoundError:
            continue
        dirs.append(str(Path(str(dist.locate_file(""))).resolve()))
    return list(dict.fromkeys(dirs))


def command_entry_points() -> dict[str, str]:
    """The q-commands of the installed qsys: name -> ``module:function``."""
    from importlib import metadata

    points = metadata.distribution("qsys").entry_points
    return {p.name: p.value for p in points if p.group == "console_scripts" and p.value.startswith(COMMANDS_PACKAGE)}


def write_launchers(bin_dir: Path, commands: dict[str, str], python: str, path: list[str]) -> list[str]:
    """A launcher in ``bin_dir`` for each of ``commands`` (name -> entry point), each written
    whole before it replaces the old script; the names written."""
    if not shebang_safe(python):
        return []  # pip's scripts stay: they know how to start an interpreter at such a path
    written = []
    for name, entry_point in sorted(commands.items()):
        target = bin_dir / name
        temporary = bin_dir / f".{name}.launcher"
        temporary.write_text(launcher_text(python, entry_point, path))
        temporary.chmod(0o755)
        os.replace(temporary, target)
        written.append(name)
    return written


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    bin_dir = Path(args[0]) if args else Path(sys.executable).parent
    written = write_launchers(bin_dir, command_entry_points(), sys.executable, search_path())
    print(f"qsys.launchers: {len(written)} command launchers in {bin_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
