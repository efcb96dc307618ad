"""``qsys up | down | status``: a personal cluster on this machine, in ``$QSYS_ROOT``.

``up`` writes a new cell (bootstrap, key, default configuration), starts the master and N exec
daemons as the invoking user (personal mode: every job runs as that user) and waits until every
host has registered. An existing cell keeps its configuration: ``up`` starts the daemons it has
that do not run and says which. A daemon runs when the process its pid file names is alive (not
a zombie) and is that daemon. ``down`` stops them by PID; it refuses while jobs run unless told
to end them (``--kill-jobs``) or to leave them to their shepherds (``--keep-jobs``).
``up --rest`` also starts qsys-restd (REST API, dashboard, /metrics); ``down`` stops it too.

``qsys token user`` issues the caller a token for qsys-restd over TCP (see qsys-restd(8)).

``qsys init`` (the master host), ``qsys join`` (exec and submit hosts) and ``qsys token
create | list | revoke`` (join tokens) make a service-mode cluster on real hosts; see
``qsys.cellinit``, ``qsys.join`` and ``qsys.master.membership``, and qsys(8). On a host that
joined, ``start`` starts its exec daemon (or, on a submit-only host, its credential signer).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import click

from qsys import auth
from qsys.errors import QsysError
from qsys.paths import SYSTEM_ROOT, Cell

START_TIMEOUT = 20.0


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a running process: a zombie (state Z, ended but not yet reaped, which
    ``kill(pid, 0)`` cannot tell from a live one) counts as gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    fields = stat[stat.rfind(b")") + 2:].split()  # the command name may hold spaces and ")"
    return bool(fields) and fields[0] not in (b"Z", b"X")


def _runs(pid: int, program: Program) -> bool:
    """Whether ``pid`` is alive and is that daemon (a pid file may name a pid since reused)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return _alive(pid) and any(arg.endswith(name) for arg in argv for name in program.names)


class Program(NamedTuple):
    """One of the cell's daemons: its pid file and the names its command line carries."""

    pid_file: str
    names: tuple[bytes, ...]


MASTER = Program("master.pid", (b"qsys.master.main", b"qsys-master"))
EXECD = Program("execd.pid", (b"execd.main", b"qsys-execd"))
RESTD = Program("restd.pid", (b"qsys.restd", b"qsys-restd"))
AUTHD = Program("authd.pid", (b"qsys.authd", b"qsys-authd"))
SPOOL_PROGRAMS = {"master": MASTER, "restd": RESTD, "authd": AUTHD}  # other spool directories are exec hosts'
REST_DEFAULTS = {"restd_port": "0", "restd_bind": "127.0.0.1"}  # a personal cell: any free loopback port


def _read_pid(path: Path, program: Program) -> int | None:
    """The pid in ``path`` when that process runs and is ``program``, else None."""
    try:
        pid = int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if _runs(pid, program) else None


def host_names(count: int) -> list[str]:
    """The exec host names of a personal cluster: this machine's name, or node1..nodeN."""
    if count <= 1:
        return [socket.gethostname().split(".")[0]]
    return [f"node{i}" for i in range(1, count + 1)]


def personal_cell() -> Cell:
    """Where ``qsys up`` keeps a personal cluster: ``$QSYS_ROOT``, else ``~/.qsys`` (never the
    system's /var/lib/qsys, which is qsys init's)."""
    from qsys.paths import cell_name

    return Cell(Path(os.environ.get("QSYS_ROOT") or os.path.expanduser("~/.qsys")), cell_name())


def cell_to_start() -> Cell:
    """The cell ``qsys up`` starts: the personal one, but for root on a host that qsys init or
    qsys join made part of a cluster (and without a personal cell or QSYS_ROOT) that host's
    cell in /var/lib/qsys, the one ``qsys down`` and ``qsys status`` find there too."""
    cell = personal_cell()
    if os.geteuid() != 0 or os.environ.get("QSYS_ROOT") or cell.bootstrap():
        return cell
    system = Cell(Path(SYSTEM_ROOT), cell.name)
    return system if system.bootstrap().get("mode") == "service" else cell


def new_cell(cell: Cell, hosts: int, slots: int | None, port: int, store_url: str | None) -> None:
    """Write a new personal cell: bootstrap, key, CA and the master's certificate, master spool."""
    cell.write_bootstrap({
        "mode": "personal",
        "master_host": "127.0.0.1",
        "master_port": str(port),
        "owner_uid": str(os.getuid()),
        "store_url": store_url or f"sqlite:///{cell.master_spool / 'qsys.db'}",
        "exec_hosts": ",".join(host_names(hosts)),
        "default_slots": str(slots or os.cpu_count() or 1),
        "tls": "yes",
    })
    if not cell.key_file.exists():
        auth.create_key(cell.key_file)
    from qsys.cellinit import ensure_tls

    ensure_tls(cell, cell.name, "127.0.0.1", ["127.0.0.1", "localhost", "::1", socket.gethostname().split(".")[0]],
               lambda _line: None)
    cell.master_spool.mkdir(parents=True, exist_ok=True)


def configured_hosts(boot: dict[str, str]) -> list[str]:
    return [h for h in boot.get("exec_hosts", "").split(",") if h]


def conflicts(boot: dict[str, str], hosts: int | None, slots: int | None, port: int | None,
              store_url: str | None) -> list[str]:
    """The options given to ``qsys up`` that an existing cell's configuration contradicts (an
    existing cell is never rewritten: its store, queues and spools belong to that configuration)."""
    found = []
    configured = configured_hosts(boot)
    if hosts is not None and host_names(hosts) != configured:
        found.append(f"--hosts {hosts}: the cell has {len(configured)} exec host(s) ({','.join(configured)})")
    if slots is not None and str(slots) != boot.get("default_slots"):
        found.append(f"--slots {slots}: all.q was made with {boot.get('default_slots')} slots per host"
                     " (change it with qconf -mattr queue slots N all.q)")
    if port and str(port) != boot.get("master_port"):
        found.append(f"--port {port}: the master uses port {boot.get('master_port')}")
    if store_url is not None and store_url != boot.get("store_url"):
        found.append(f"--store {store_url}: the cell's store is {boot.get('store_url')}")
    return found


def _daemon_cmd(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def _wait(predicate, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    tail = ""
    try:
        tail = "\n".join(log.read_text().splitlines()[-15:])
    except OSError:
        pass
    raise click.ClickException(f"{what} did not come up within {timeout:.0f}s\n{tail}")


def _registered_hosts(cell: Cell) -> set[str]:
    from qsys.client import Client

    try:
        with Client(cell, timeout=2.0, retry=0) as client:
            return {h["name"] for h in client.hosts() if h.get("load") is not None}
    except (QsysError, OSError):
        return set()


def daemon_pid(cell: Cell, what: str) -> int | None:
    """The pid of the cell's ``master``, ``restd``, ``authd`` or exec daemon ``what`` when it runs."""
    program = SPOOL_PROGRAMS.get(what, EXECD)
    return _read_pid(cell.dir / "spool" / what / program.pid_file, program)


def _joined_daemon(cell: Cell, boot: dict[str, str]) -> str:
    """The spool name of what a joined host runs: its exec daemon, or qsys-authd."""
    return boot["host_name"] if boot.get("joined_as", "exec") == "exec" else "authd"


def stop_local(cell: Cell, daemon: str) -> str:
    """Stop this host's ``execd`` or ``authd`` of a joined cell if it runs; what was stopped."""
    boot = cell.bootstrap()
    what = boot.get("host_name", "") if daemon == "execd" else daemon
    pid = daemon_pid(cell, what) if what else None
    if pid is None:
        return ""
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15.0
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return f"pid {pid}"


def start(cell: Cell) -> list[str]:
    """Start every configured daemon that does not run; one line per daemon saying which."""
    from qsys.install import cell_env

    boot = cell.bootstrap()
    env = cell_env(cell)
    if boot.get("host_name"):
        return _start_joined(cell, boot, env)
    said = []
    master_pid = _read_pid(cell.master_spool / MASTER.pid_file, MASTER)
    if master_pid is None:
        subprocess.run(_daemon_cmd("qsys.master.main"), check=True, env=env)
        _wait(lambda: _master_answers(cell), START_TIMEOUT, "the master", cell.master_spool / "messages")
        said.append(f"started master (pid {_read_pid(cell.master_spool / MASTER.pid_file, MASTER)})")
    else:
        said.append(f"master already running (pid {master_pid})")
    hosts = configured_hosts(boot)
    started = []
    for host in hosts:
        pid = _read_pid(cell.execd_spool(host) / EXECD.pid_file, EXECD)
        if pid is None:
            subprocess.run(_daemon_cmd("execd.main", "--host", host), check=True, env=env)
            started.append(host)
        else:
            said.append(f"execd {host} already running (pid {pid})")
    _wait(lambda: set(hosts) <= _registered_hosts(cell), START_TIMEOUT, "the exec daemons",
          cell.execd_spool(hosts[0]) / "messages" if hosts else cell.master_spool / "messages")
    for host in started:  # registered, so its pid file is written
        said.append(f"started execd {host} (pid {_read_pid(cell.execd_spool(host) / EXECD.pid_file, EXECD)})")
    return said


def _start_joined(cell: Cell, boot: dict[str, str], env: dict[str, str]) -> list[str]:
    """A joined host's daemon: its exec daemon (the caller waits for it to register), or the
    credential signer of a submit-only host (waited for here)."""
    what = _joined_daemon(cell, boot)
    pid = daemon_pid(cell, what)
    label = "authd" if what == "authd" else f"execd {what}"
    if pid is not None:
        return [f"{label} already running (pid {pid})"]
    module = "qsys.authd" if what == "authd" else "execd.main"
    subprocess.run(_daemon_cmd(module), check=True, env=env)
    log = cell.dir / "spool" / what / "messages"
    _wait(lambda: daemon_pid(cell, what) is not None and (what != "authd" or cell.signer_socket.exists()),
          START_TIMEOUT, label, log)
    return [f"started {label} (pid {daemon_pid(cell, what)})"]


def start_restd(cell: Cell) -> list[str]:
    """Start qsys-restd unless it runs (restd_* keys missing from the cell get the personal
    defaults); the lines say where the dashboard is, with a sign-in address for the owner."""
    boot = cell.bootstrap()
    missing = {k: v for k, v in REST_DEFAULTS.items() if k not in boot}
    if missing:
        cell.write_bootstrap({**boot, **missing})
    pid = _read_pid(cell.restd_spool / RESTD.pid_file, RESTD)
    said = [f"restd already running (pid {pid})"] if pid else []
    if pid is None:
        from qsys.install import cell_env

        subprocess.run(_daemon_cmd("qsys.restd"), check=True, env=cell_env(cell))
        _wait(lambda: restd_address(cell) is not None and _restd_answers(cell), START_TIMEOUT, "qsys-restd",
              cell.restd_spool / "messages")
        said.append(f"started restd (pid {_read_pid(cell.restd_spool / RESTD.pid_file, RESTD)})")
    address = restd_address(cell)
    if address:
        token = auth.sign_user_token(auth.load_key(cell.key_file), os.getuid(), 7 * 86400)
        said.append(f"dashboard {address}/ (sign in for a week: {address}/login?token={token})")
    return said


def restd_address(cell: Cell) -> str | None:
    """restd's TCP address ("" when it has none) while it runs, else None."""
    try:
        return (cell.restd_spool / "address").read_text().splitlines()[0]
    except (OSError, IndexError):
        return None


def restd_socket(cell: Cell) -> Path:
    """restd's Unix socket: where the running restd says, else the default place."""
    try:
        return Path((cell.restd_spool / "address").read_text().splitlines()[1])
    except (OSError, IndexError):
        return cell.restd_spool / "restd.sock"


def restd_request(cell: Cell, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    """One JSON request to qsys-restd over its Unix socket (the kernel names the caller)."""
    import http.client
    import json

    where = str(restd_socket(cell))

    class UnixConnection(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(self.timeout)
            self.sock.connect(where)

    connection = UnixConnection("localhost", timeout=10.0)
    try:
        payload = json.dumps(body).encode() if body is not None else None
        connection.request(method, path, body=payload, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


def _restd_answers(cell: Cell) -> bool:
    try:
        return restd_request(cell, "GET", "/api/v1/whoami")[0] == 200
    except (OSError, ValueError):
        return False


def _master_answers(cell: Cell) -> bool:
    from qsys.client import Client

    try:
        with Client(cell, timeout=2.0, retry=0) as client:
            client.hosts()
        return True
    except (QsysError, OSError):
        return False


def running_daemons(cell: Cell) -> dict[str, int]:
    """Every daemon of the cell that runs, by spool directory (``master`` or the exec host's
    name), configured or not: a daemon its pid file names is never lost track of."""
    found = {}
    spool_root = cell.dir / "spool"
    if spool_root.exists():
        for entry in sorted(spool_root.iterdir()):
            program = SPOOL_PROGRAMS.get(entry.name, EXECD)
            pid = _read_pid(entry / program.pid_file, program)
            if pid is not None:
                found[entry.name] = pid
    return found


def stop(cell: Cell, timeout: float = 15.0) -> list[str]:
    """Stop every daemon of the cell by PID; returns what was stopped."""
    stopped = []
    pids = running_daemons(cell)
    if "restd" in pids:  # first: it talks to the master for its callers
        pids = {"restd": pids.pop("restd"), **pids}
    for what, pid in pids.items():
        try:
            os.kill(pid, signal.SIGTERM)
            stopped.append(f"{what} (pid {pid})")
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    for pid in pids.values():
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    return stopped


@click.group()
def main() -> None:
    """Run a personal qsys cluster on this machine (QSYS_ROOT, default ~/.qsys)."""


@main.command()
@click.option("--hosts", type=int, default=None,
              help="number of exec daemons of a new cell (node1..nodeN when > 1)  [default: 1]")
@click.option("--slots", type=int, default=None, help="slots per host in all.q of a new cell (default: processors)")
@click.option("--port", type=int, default=None, help="master TCP port of a new cell (default 0: any free port)")
@click.option("--store", "store_url", default=None, help="store URL of a new cell (default: SQLite)")
@click.option("--rest", is_flag=True, help="also start qsys-restd (REST API, dashboard, /metrics; needs qsys[rest])")
def up(hosts: int | None, slots: int | None, port: int | None, store_url: str | None, rest: bool) -> None:
    """Start the master and the exec daemons: a new cell is written first; an existing cell keeps
    its configuration and gets the daemons it has that do not run (as root on a host of a
    service-mode cluster: that host's own daemons)."""
    cell = cell_to_start()
    boot = cell.bootstrap()
    if not boot:
        new_cell(cell, hosts or 1, slots, port or 0, store_url)
    else:
        refused = conflicts(boot, hosts, slots, port, store_url)
        if refused:
            raise click.ClickException(
                f"the cell in {cell.dir} exists and keeps its configuration:\n  " + "\n  ".join(refused)
                + "\nrun 'qsys up' without these options, or 'qsys down' and remove the cell for a new one")
        click.echo(f"cell {cell.dir} exists: starting what it has that does not run")
    for line in start(cell):
        click.echo(line)
    if rest:
        for line in start_restd(cell):
            click.echo(line)
    _print_status(cell)


@main.command()
@click.option("--kill-jobs", is_flag=True, help="delete running jobs and wait for them to end first")
@click.option("--keep-jobs", is_flag=True, help="leave running jobs to their shepherds")
def down(kill_jobs: bool, keep_jobs: bool) -> None:
    """Stop the master and the exec daemons."""
    from qsys.client import Client

    cell = Cell.current()
    if _read_pid(cell.master_spool / MASTER.pid_file, MASTER) is not None:
        try:
            with Client(cell, timeout=5.0, retry=0) as client:
                running = [r for r in client.jobs(["*"]) if r["queue"]]
                if running and kill_jobs:
                    client.job_action("delete", [], users=["*"])
                    _wait(lambda: not [r for r in client.jobs(["*"]) if r["queue"]], 60.0,
                          "the end of the running jobs", cell.master_spool / "messages")
                elif running and not keep_jobs:
                    ids = " ".join(sorted({str(r["job_id"]) for r in running}))
                    raise click.ClickException(
                        f"{len(running)} job task(s) still running (jobs {ids}); "
                        "use --kill-jobs to end them or --keep-jobs to leave them running"
                    )
        except QsysError as exc:
            click.echo(f"qsys down: master not answering ({exc}); stopping by PID", err=True)
    for line in stop(cell):
        click.echo(f"stopped {line}")


@main.command()
def status() -> None:
    """Show what runs."""
    _print_status(Cell.current())


def _print_status(cell: Cell) -> None:
    boot = cell.bootstrap()
    if not boot:
        click.echo(f"no cluster in {cell.dir}")
        sys.exit(1)
    if boot.get("host_name"):
        _print_joined_status(cell, boot)
        return
    running = running_daemons(cell)
    master_pid = running.pop("master", None)
    restd_pid = running.pop("restd", None)
    click.echo(f"cell      {cell.dir} ({boot.get('mode', 'personal')} mode)")
    click.echo(f"master    {'running, pid ' + str(master_pid) if master_pid else 'stopped'}"
               f" (port {boot.get('master_port')}, store {boot.get('store_url')})")
    registered = _registered_hosts(cell) if master_pid else set()
    configured = configured_hosts(boot)
    for host in configured + sorted(set(running) - set(configured)):
        pid = running.get(host)
        state = f"running, pid {pid}" if pid else "stopped"
        if pid and host not in registered:
            state += ", not registered"
        if host not in configured:
            state += ", not in the cell's exec_hosts (qsys down stops it)"
        click.echo(f"execd     {host}: {state}")
    for host in sorted(registered - set(configured) - set(running)):
        click.echo(f"execd     {host}: registered (on its own host)")
    if restd_pid:
        click.echo(f"restd     running, pid {restd_pid} ({restd_address(cell) or 'no TCP address'}, "
                   f"socket {restd_socket(cell)})")
    if master_pid:
        from qsys.client import Client

        try:
            with Client(cell, timeout=5.0, retry=0) as client:
                rows = client.jobs(["*"])
            running_tasks = sum(1 for r in rows if r["queue"])
            click.echo(f"jobs      {running_tasks} running task(s), {len(rows) - running_tasks} pending job(s)")
        except QsysError as exc:
            click.echo(f"jobs      unknown ({exc})")


def _print_joined_status(cell: Cell, boot: dict[str, str]) -> None:
    host, what = boot["host_name"], _joined_daemon(cell, boot)
    click.echo(f"cell      {cell.dir} ({boot.get('mode')} mode, joined as {boot.get('joined_as', 'exec')} host {host})")
    pid = daemon_pid(cell, what)
    label = "authd    " if what == "authd" else f"execd     {host}:"
    click.echo(f"{label} {'running, pid ' + str(pid) if pid else 'stopped'}")
    from qsys.client import Client

    where = f"{boot.get('master_host')}:{boot.get('master_port')}"
    try:
        with Client(cell, timeout=5.0) as client:
            registered = {h["name"] for h in client.hosts() if h.get("load") is not None}
        state = "registered" if host in registered else "not registered"
        click.echo(f"master    {where}: answers ({'this host ' + state if what != 'authd' else 'as ' + client.user})")
    except QsysError as exc:
        click.echo(f"master    {where}: {exc}")


@main.group()
def token() -> None:
    """Tokens: join tokens for new hosts (create, list, revoke), and user tokens for qsys-restd."""


@token.command("user")
@click.option("--ttl", type=click.IntRange(60, 366 * 86400), default=86400, show_default=True,
              help="seconds the token is valid")
@click.option("--user", "user_name", default=None,
              help="issue it for this user (holders of the cluster key only: root, the personal cluster's owner)")
def token_user(ttl: int, user_name: str | None) -> None:
    """Print a token naming you, for qsys-restd over TCP (Authorization: Bearer TOKEN).

    A holder of the cluster key signs it here; anyone else gets it from qsys-restd over its
    Unix socket, where the kernel says who is asking."""
    import pwd

    cell = Cell.current()
    uid = os.getuid()
    if user_name is not None:
        try:
            uid = pwd.getpwnam(user_name).pw_uid
        except KeyError:
            raise click.ClickException(f"unknown user {user_name}") from None
    if os.access(cell.key_file, os.R_OK):
        click.echo(auth.sign_user_token(auth.load_key(cell.key_file), uid, ttl))
        return
    if uid != os.getuid():
        raise click.ClickException("only a holder of the cluster key can issue a token for another user")
    try:
        status, reply = restd_request(cell, "POST", "/api/v1/tokens", {"ttl": ttl})
    except OSError as exc:
        raise click.ClickException(f"cannot reach qsys-restd at {restd_socket(cell)}: {exc}") from None
    if status != 201:
        raise click.ClickException(str(reply.get("error", reply)))
    click.echo(reply["token"])


def _host_commands() -> None:
    from qsys import hostcmds

    main.add_command(hostcmds.init)
    main.add_command(hostcmds.join)
    for command in (hostcmds.token_create, hostcmds.token_list, hostcmds.token_revoke):
        token.add_command(command)


_host_commands()

if __name__ == "__main__":
    main()
