"""The ``qsys`` commands that set up real hosts: ``init``, ``join``, ``token create | list |
revoke`` (click, thin: the work is in ``qsys.cellinit``, ``qsys.join`` and the master's
``qsys.master.membership``). See qsys(8)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from qsys import protocol
from qsys.errors import QsysError
from qsys.paths import SYSTEM_ROOT, Cell, cell_name

if TYPE_CHECKING:
    from qsys.client import Client

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_ttl(text: str) -> int:
    """``90``, ``90s``, ``30m``, ``1h``, ``2d`` -> seconds."""
    text = text.strip().lower()
    unit = _UNITS.get(text[-1:]) if text else None
    number = text[:-1] if unit else text
    if not number.isdigit():
        raise click.BadParameter(f"{text!r} is not a duration (90, 90s, 30m, 1h, 2d)")
    return int(number) * (unit or 1)


def _service_cell(root: str | None) -> Cell:
    """The cell of a root install: ``--root``, else ``$QSYS_ROOT``, else /var/lib/qsys."""
    return Cell(Path(root or os.environ.get("QSYS_ROOT") or SYSTEM_ROOT), cell_name())


class _UsageFailure(click.ClickException):
    exit_code = 2  # qsys(8), as Grid Engine: a usage error exits 2


def _run(action: Callable[[], None]) -> None:
    """The action; its QsysError as click's message, with its exit status (2 for a usage error)."""
    try:
        action()
    except QsysError as exc:
        failure = _UsageFailure if exc.exit_code == _UsageFailure.exit_code else click.ClickException
        raise failure(exc.message.removeprefix("error: ")) from None


@click.command()
@click.option("--personal", is_flag=True, help="a personal cell in ~/.qsys (QSYS_ROOT) run by you, as qsys up makes")
@click.option("--store", "store_url", default=None,
              help="store URL: sqlite:///PATH (default: the cell's spool) or postgresql://USER@HOST/DB")
@click.option("--port", type=int, default=None, help="the master's TCP port (default 7444)")
@click.option("--name", "names", multiple=True,
              help="another name or address of this host for the master's certificate (repeat as needed)")
@click.option("--root", default=None, help="where the cell lives (default $QSYS_ROOT, else /var/lib/qsys)")
@click.option("--no-systemd", is_flag=True, help="print the systemd unit instead of installing it")
@click.option("--no-start", is_flag=True, help="do not start the master")
@click.option("--hosts", type=int, default=1, show_default=True, help="--personal: exec daemons of the new cell")
def init(personal: bool, store_url: str | None, port: int | None, names: tuple[str, ...], root: str | None,
         no_systemd: bool, no_start: bool, hosts: int) -> None:
    """Make this host the master of a service-mode cell (root): bootstrap, keys, cell CA and
    certificates, store with the default queue and PEs, commands on the PATH, systemd unit,
    the master started. Run again, it only completes what is missing."""
    from qsys import cellinit

    if personal:
        from qsys.cluster import personal_cell

        _run(lambda: cellinit.init_personal(personal_cell(), hosts=hosts, slots=None, port=port,
                                            store_url=store_url, start=not no_start, echo=click.echo))
        return
    cell = _service_cell(root)
    _run(lambda: cellinit.init_service(cell, store_url=store_url, port=port, names=list(names),
                                       systemd=not no_systemd, start=not no_start, echo=click.echo))
    if not no_start:
        click.echo(f"next: qsys token create (here), then on each host: qsys join {cell.bootstrap()['master_host']}"
                   f":{cell.bootstrap()['master_port']} --token TOKEN")


@click.command()
@click.argument("master")
@click.option("--token", "token_text", required=True, help="a join token from 'qsys token create' on the master")
@click.option("--submit-only", is_flag=True, help="a submit host: no exec daemon, only its users' credentials")
@click.option("--host", default=None, help="the name to join as (default: the short host name)")
@click.option("--root", default=None, help="where the cell lives (default $QSYS_ROOT, else /var/lib/qsys)")
@click.option("--no-systemd", is_flag=True, help="print the systemd unit instead of installing it")
@click.option("--no-start", is_flag=True, help="do not start the daemon")
def join(master: str, token_text: str, submit_only: bool, host: str | None, root: str | None,
         no_systemd: bool, no_start: bool) -> None:
    """Join the cell of the master at MASTER[:PORT] (root): this host gets its own secret and
    certificate, its commands on the PATH, and its daemon started."""
    from qsys import join as joining

    cell = _service_cell(root)
    _run(lambda: joining.join(cell, master, token_text, host=host, submit_only=submit_only,
                              systemd=not no_systemd, start=not no_start, echo=click.echo))


def _client() -> Client:
    from qsys.client import Client

    return Client(Cell.current(), timeout=30.0)


@click.command("create")
@click.option("--host", "hosts", default="*", show_default=True,
              help="the host names it admits (a shell pattern: node*, node[0-9][0-9])")
@click.option("--ttl", default="1h", show_default=True, help="how long it is valid: 90s, 30m, 1h, 2d")
def token_create(hosts: str, ttl: str) -> None:
    """Print a one-time join token for 'qsys join' (managers, on an admin host)."""
    seconds = parse_ttl(ttl)

    def create() -> None:
        with _client() as client:
            issued = client.request(protocol.TokenCreate(hosts, seconds), protocol.TokenIssued)
        click.echo(issued.token)

    _run(create)


def _when(stamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp)) if stamp else "-"


@click.command("list")
def token_list() -> None:
    """The join tokens of the last days: id, hosts, expiry, state (never their secrets)."""

    def show() -> None:
        with _client() as client:
            rows = client.request(protocol.TokenList(), protocol.TokenRows).rows
        click.echo(f"{'ID':<9} {'HOSTS':<16} {'CREATED':<19} {'EXPIRES':<19} STATE")
        for row in rows:
            state = f"used by {row.used_by} at {_when(row.used_at)}" if row.state == "used" else row.state
            click.echo(f"{row.id:<9} {row.hosts:<16} {_when(row.created):<19} {_when(row.expires):<19} {state}")

    _run(show)


@click.command("revoke")
@click.argument("ids", nargs=-1, required=True)
def token_revoke(ids: tuple[str, ...]) -> None:
    """Revoke unused join tokens by id (as 'qsys token list' shows them)."""

    def revoke() -> None:
        with _client() as client:
            reply = client.request(protocol.TokenRevoke(list(ids)), protocol.Lines)
        for line in reply.lines:
            click.echo(line)
        if reply.exit:
            raise SystemExit(reply.exit)

    _run(revoke)
