"""Where a cluster lives on disk: ``$QSYS_ROOT/<cell>/...``.

``QSYS_ROOT`` unset: ``~/.qsys`` when it exists (a personal cluster), else the system's
``/var/lib/qsys`` when the cell there has a bootstrap file (a cell ``qsys init`` or ``qsys
join`` made), else ``~/.qsys``.

Layout of a cell (``QSYS_CELL``, default ``default``)::

    common/bootstrap       key = value lines: mode, store_url, master_host, master_port, ...
    common/cluster.key     the cluster key (mode 0600; root's in service mode; master host only)
    common/ca.pem          the cell CA's certificate (every host); ca.key its key (master only)
    common/host.pem        this host's certificate (the master's server certificate, or the
                           client certificate a joined host got); host.key its key (0600)
    common/host.secret     a joined host's secret (mode 0600, root's)
    common/signer.sock     a joined host's credential signer (see qsys.signer)
    common/accounting      Grid Engine-format accounting file
    common/act_qmaster     name of the host running the master (the active one of master_candidates)
    common/sge_request     default submit options for every user of the cell
    spool/master/          master pid, log, Unix socket, SQLite store
    spool/restd/           qsys-restd's pid, log, Unix socket, address (see qsys-restd(8))
    spool/<host>/          one exec daemon's pid, log, active_jobs/<job>.<task>/
"""

from __future__ import annotations

import os

from qsys.record import dataclass

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

DEFAULT_PORT = 7444
# what users and jobs run (a root install links them into /usr/local/bin; an exec host into
# $QSYS_ROOT/bin/<arch>, its jobs' SGE_BINARY_PATH) and the daemons (/usr/local/bin too)
# (every command of pyproject.toml's [project.scripts]: one left out is found in Debian's
# Grid Engine, /usr/bin/qquota say, when that is installed; tests/unit/test_command_links.py)
USER_COMMANDS = ("qacct", "qalter", "qconf", "qdel", "qhold", "qhost", "qlogin", "qmod", "qquota", "qrdel",
                 "qrls", "qrsh", "qrstat", "qrsub", "qselect", "qstat", "qsub", "qsys")
DAEMON_COMMANDS = ("qsys-master", "qsys-shadowd", "qsys-execd", "qsys-authd", "qsys-sshd", "qsys-restd")


def link_commands(source: Path, target: Path, names: tuple[str, ...]) -> list[str]:
    """Symbolic links ``target/NAME`` -> ``source/NAME`` for the commands ``source`` has; a
    link that points elsewhere is replaced, a file that is not a link is left (and named in
    the list returned)."""
    target.mkdir(parents=True, exist_ok=True)
    kept = []
    for name in names:
        wanted, link = source / name, target / name
        if not wanted.exists():
            continue
        if link.is_symlink():
            if os.readlink(link) == str(wanted):
                continue
            link.unlink()
        elif link.exists():
            kept.append(str(link))
            continue
        link.symlink_to(wanted)
    return kept


def qsys_root() -> Path:
    from pathlib import Path  # not at import time: a qsub on the Unix socket never needs it

    return Path(root_dir())


SYSTEM_ROOT = "/var/lib/qsys"


def root_dir() -> str:
    found = os.environ.get("QSYS_ROOT")
    if found:
        return found
    personal = os.path.expanduser("~/.qsys")
    if not os.path.isdir(personal) and os.path.exists(os.path.join(SYSTEM_ROOT, cell_name(), "common", "bootstrap")):
        return SYSTEM_ROOT
    return personal


def sge_request_path() -> str:
    """The current cell's ``common/sge_request``, as a plain string (see ``Cell.sge_request_file``):
    qsub reads it on every submission and needs no pathlib for it."""
    return os.path.join(root_dir(), cell_name(), "common", "sge_request")


def master_socket_path() -> str:
    """The current cell's master socket, as a plain string (see ``Cell.master_socket``)."""
    return os.path.join(root_dir(), cell_name(), "spool", "master", "master.sock")


def cell_name() -> str:
    return os.environ.get("QSYS_CELL") or os.environ.get("SGE_CELL") or "default"


@dataclass(frozen=True)
class Cell:
    root: Path
    name: str

    @classmethod
    def current(cls) -> Cell:
        return cls(qsys_root(), cell_name())

    @property
    def dir(self) -> Path:
        return self.root / self.name

    @property
    def common(self) -> Path:
        return self.dir / "common"

    @property
    def bootstrap_file(self) -> Path:
        return self.common / "bootstrap"

    @property
    def key_file(self) -> Path:
        return self.common / "cluster.key"

    @property
    def ca_cert(self) -> Path:
        return self.common / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.common / "ca.key"

    @property
    def host_cert(self) -> Path:
        return self.common / "host.pem"

    @property
    def host_key(self) -> Path:
        return self.common / "host.key"

    @property
    def host_secret(self) -> Path:
        return self.common / "host.secret"

    @property
    def signer_socket(self) -> Path:
        return self.common / "signer.sock"

    @property
    def accounting_file(self) -> Path:
        return self.common / "accounting"

    @property
    def act_qmaster_file(self) -> Path:
        return self.common / "act_qmaster"

    @property
    def sge_request_file(self) -> Path:
        return self.common / "sge_request"

    @property
    def master_spool(self) -> Path:
        return self.dir / "spool" / "master"

    @property
    def master_socket(self) -> Path:
        return self.master_spool / "master.sock"

    @property
    def restd_spool(self) -> Path:
        """qsys-restd's pid, log, Unix socket and the address it listens on."""
        return self.dir / "spool" / "restd"

    def execd_spool(self, host: str) -> Path:
        return self.dir / "spool" / host

    def bootstrap(self) -> dict[str, str]:
        """The bootstrap file as a map (empty when the cell does not exist)."""
        try:
            text = self.bootstrap_file.read_text()
        except FileNotFoundError:
            return {}
        return parse_key_values(text)

    def write_bootstrap(self, values: dict[str, str]) -> None:
        self.common.mkdir(parents=True, exist_ok=True)
        lines = [f"{k:<20} {v}" for k, v in values.items()]
        tmp = self.bootstrap_file.with_suffix(".tmp")
        tmp.write_text("\n".join(lines) + "\n")
        os.chmod(tmp, 0o644)
        tmp.replace(self.bootstrap_file)


def master_candidates(boot: dict[str, str], active: str = "") -> list[tuple[str, int]]:
    """Where the cell's master may listen, in the order to try them: ``master_candidates``
    (``host[:port],...``; a host without a port takes ``master_port``), else the one
    ``master_host``/``master_port``. The candidate on host ``active`` (the name in
    act_qmaster) comes first."""
    try:
        default_port = int(boot.get("master_port") or DEFAULT_PORT)
    except ValueError:
        default_port = DEFAULT_PORT
    found: list[tuple[str, int]] = []
    for item in (boot.get("master_candidates") or "").split(","):
        host, sep, port = item.strip().rpartition(":")
        if not sep:
            host, port = port, ""
        host = host.strip("[]")
        if host:
            found.append((host, int(port) if port.isdigit() else default_port))
    if not found:
        return [(boot.get("master_host") or "127.0.0.1", default_port)]
    if active:
        found.sort(key=lambda address: address[0] != active)
    return found


def read_active_master(cell: Cell) -> str:
    """The host name in act_qmaster ("" when there is none)."""
    try:
        with open(os.path.join(str(cell.common), "act_qmaster"), encoding="utf-8", errors="replace") as f:
            return f.read(256).strip()
    except OSError:
        return ""


def parse_key_values(text: str) -> dict[str, str]:
    """``name value`` lines (Grid Engine's bootstrap/configuration style), ``#`` comments."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition(" ")
        values[key] = value.strip()
    return values
