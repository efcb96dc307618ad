"""A root install on a host: the commands on the system PATH, the manual pages in the manpath,
the systemd units, and starting the host's daemons (``qsys init``, ``qsys join``,
``make install``).

* commands: symbolic links in ``/usr/local/bin`` to this installation's console scripts, so
  every user, every job and ``qrsh -inherit`` find them in the PATH a login shell sets
  (Debian's ``/etc/profile`` puts ``/usr/local/bin`` before ``/usr/bin``, where a Grid Engine
  package keeps its own ``qsub``);
* manual pages: links in ``/usr/local/share/man/manN`` (in man-db's default manpath);
* units: ``conf/systemd/*.service`` with this installation's paths and the cell's root put in,
  written to ``/etc/systemd/system`` (or printed);
* start: ``systemctl enable --now`` where systemd runs; elsewhere (containers, this kind of
  test machine) the daemon is started directly, detached, as ``qsys up`` starts them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from qsys.paths import DAEMON_COMMANDS, USER_COMMANDS, Cell, link_commands

PREFIX = Path("/usr/local")
UNIT_DIR = Path("/etc/systemd/system")
REPO = Path(__file__).resolve().parent.parent
TEMPLATE_BIN = "/opt/qsys/venv/bin"  # what the unit files in conf/systemd name
MODULES = {"qsys-master": "qsys.master.main", "qsys-execd": "execd.main", "qsys-restd": "qsys.restd",
           "qsys-authd": "qsys.authd"}


def bin_dir() -> Path:
    return Path(sys.executable).parent


def units_dir() -> Path:
    """The unit files: installed with the package (pyproject's data files), else the source
    tree's conf/systemd."""
    installed = Path(sys.prefix) / "share" / "qsys" / "systemd"
    return installed if installed.is_dir() else REPO / "conf" / "systemd"


def man_pages() -> list[Path]:
    installed = Path(sys.prefix) / "share" / "man"
    source = installed if (installed / "man1" / "qsub.1").exists() else REPO / "man"
    return sorted(p for p in source.glob("man[1-8]/*.[1-8]"))


def link_system_commands(prefix: Path = PREFIX) -> list[str]:
    """The commands in ``prefix/bin`` and the pages in ``prefix/share/man``; what was left
    alone (files that are not links) is named in the lines returned."""
    said = []
    kept = link_commands(bin_dir(), prefix / "bin", USER_COMMANDS + DAEMON_COMMANDS)
    said += [f"left {path} alone: not a link qsys made" for path in kept]
    pages = 0
    for page in man_pages():
        section = prefix / "share" / "man" / page.parent.name
        kept = link_commands(page.parent, section, (page.name,))
        said += [f"left {path} alone: not a link qsys made" for path in kept]
        pages += not kept
    said.insert(0, f"commands linked in {prefix / 'bin'}, {pages} manual pages in {prefix / 'share' / 'man'}")
    return said


def unit_text(name: str, cell: Cell) -> str:
    """A unit of conf/systemd for this installation and ``cell``."""
    text = (units_dir() / name).read_text()
    for script, module in MODULES.items():
        installed = bin_dir() / script
        if not installed.exists():  # a console script this venv does not have yet
            text = text.replace(f"{TEMPLATE_BIN}/{script}", f"{sys.executable} -m {module}")
    text = text.replace(TEMPLATE_BIN, str(bin_dir()))
    text = text.replace("Environment=QSYS_ROOT=/var/lib/qsys", f"Environment=QSYS_ROOT={cell.root}")
    return text.replace("Environment=QSYS_CELL=default", f"Environment=QSYS_CELL={cell.name}")


def install_units(names: list[str], cell: Cell, target: Path = UNIT_DIR) -> list[Path]:
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names:
        path = target / name
        path.write_text(unit_text(name, cell))
        os.chmod(path, 0o644)
        written.append(path)
    return written


def systemd_runs() -> bool:
    """Whether systemd is this machine's init (sd_booted's test)."""
    return Path("/run/systemd/system").is_dir()


def enable_units(names: list[str]) -> None:
    subprocess.run(["systemctl", "daemon-reload"], check=True)
    subprocess.run(["systemctl", "enable", "--now", *names], check=True)


def cell_env(cell: Cell) -> dict[str, str]:
    """The environment a daemon of ``cell`` is started with."""
    return {**os.environ, "QSYS_ROOT": str(cell.root), "QSYS_CELL": cell.name}


def main() -> int:
    """``python -m qsys.install`` (``make install`` as root): the commands on the system PATH and
    the pages in the manpath."""
    if os.geteuid() != 0:
        print("qsys.install: links in /usr/local are root's to make; nothing done", file=sys.stderr)
        return 1
    for line in link_system_commands():
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
