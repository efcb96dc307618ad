"""``qsys-master``: the master daemon of the current cell, and the one place it is wired.

:func:`build_master` shows every part of the master and what each is given:

* ``core.Master``: the state (jobs, exec hosts, configuration), commit, events -- the bottom;
* ``execd_link``: ``HostLinks`` sends to exec daemons, ``ExecdRegistry`` serves their links;
* ``queue_states.QueueStates``: instance states (qmod, calendars, thresholds), suspension;
* ``pe.ParallelJobs``: slave hosts, inherit ports and pe task accounting of PE jobs;
* ``ends.TaskEnds``: the end of a task (accounting, rerun, forgetting the job);
* ``hostwatch.HostWatch``: hosts not heard for max_unheard, their jobs after reschedule_unknown;
* ``sessions.SessionBroker``: qrsh/qlogin sessions between client and exec host;
* ``dispatch.Dispatcher``: scheduling passes and the starts they order, paced by
  ``pacing.Pacer`` (requests queue fairly, a due pass goes first);
* ``metrics.Metrics``: the figures the parts keep (``state.metrics``), read by MetricsStatus;
* ``status_cache.StatusCache``: status replies encoded once and served to every poll until a
  write, an event or their age makes them old (client writes and exec daemon messages pass it);
* the request handlers (``requests``, ``status``, ``alter``, ``qmod``, ``objects``,
  ``sessions``) in one client table, the exec daemon messages in another;
* ``membership.Membership``: join tokens, joined hosts and their secrets, the check of every
  exec daemon's proof and TCP client's credential, TLS on the TCP port;
* ``server.Server``: the listeners (TCP and the Unix socket);
* ``lease.MasterLease`` (cells with ``master_candidates``): the lease that makes this master
  the active one, fencing every commit; ``qsys.master.shadow`` takes it over when it expires.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from qsys import auth, daemonize, protocol
from qsys.accounting_file import devices_file
from qsys.master import finished, shareusage
from qsys.master.accounting import AccountingWriter, detach_other_writers
from qsys.master.acctread import AccountingReads
from qsys.master.actions import JobActions
from qsys.master.advance import KIND as advance_kind
from qsys.master.advance import AdvanceReservations
from qsys.master.alter import AlterRequests
from qsys.master.clock import Clock, SystemClock
from qsys.master.collector import Collector
from qsys.master.config import ClusterConfig
from qsys.master.core import Master
from qsys.master.dispatch import Dispatcher
from qsys.master.ends import TaskEnds
from qsys.master.execd_link import ExecdHandler, ExecdRegistry, HostLinks
from qsys.master.hostwatch import HostWatch
from qsys.master.lease import LOST_EXIT, MasterLease, is_failover_cell, own_candidate, start_lease
from qsys.master.membership import Membership, load_tls
from qsys.master.metrics import Metrics
from qsys.master.objects import ConfRequests
from qsys.master.pacing import Pacer
from qsys.master.pe import ParallelJobs
from qsys.master.policies import MasterPolicies
from qsys.master.private import UMASK, make_private
from qsys.master.qmod import QueueRequests
from qsys.master.queue_states import QueueStates
from qsys.master.quotas import QuotaRequests
from qsys.master.requests import JobRequests
from qsys.master.server import ClientHandler, Server, short_hostname
from qsys.master.sessions import SessionBroker, SessionRequests
from qsys.master.shareusage import ShareUsage
from qsys.master.status import StatusRequests
from qsys.master.status_cache import CACHED, READS, StatusCache
from qsys.master.verify import SubmitVerifier
from qsys.paths import DEFAULT_PORT, Cell
from qsys.store import GroupCommitter, Store
from qsys.store.lease import guard_sessions

log = logging.getLogger("qsys.master")


def default_store_url(cell: Cell) -> str:
    return f"sqlite:///{cell.master_spool / 'qsys.db'}"


@dataclass
class MasterDaemon:
    """One master, its parts wired: :meth:`start` listens and runs, :meth:`stop` ends it."""

    cell: Cell
    store: Store
    state: Master
    accounting: AccountingWriter
    qstates: QueueStates
    dispatcher: Dispatcher
    hostwatch: HostWatch
    execds: ExecdRegistry
    server: Server
    requests: protocol.HandlerTable[ClientHandler]
    execd_messages: protocol.HandlerTable[ExecdHandler]
    port: int | None = 0  # TCP port to listen on (0: any free port; None: the Unix socket only)
    bind: str | None = None  # TCP addresses, comma-separated (None: see listen_addresses)
    bound_port: int | None = None
    lease: MasterLease | None = None
    advance: AdvanceReservations | None = None  # qrsub's reservations and their windows

    async def start(self) -> int | None:
        """Complete a new cell's configuration, listen, start the scheduler; the TCP port."""
        cell, state = self.cell, self.state
        await state.config.bootstrap_defaults(state)
        if self.lease is not None:
            self._keep_lease(self.lease)
        hosts = listen_addresses(self.bind, state.mode, several_masters=self.lease is not None)
        self.bound_port = await self.server.start(hosts, self.port, str(cell.master_socket))
        if self.port == 0 and self.bound_port:
            state.boot["master_port"] = str(self.bound_port)
            cell.write_bootstrap(state.boot)
        act_qmaster = cell.common / "act_qmaster"
        act_qmaster.write_text(state.host_name + "\n")
        os.chmod(act_qmaster, 0o644)
        log.info("master up on port %s, socket %s, store %s", self.bound_port, cell.master_socket,
                 self.store.url_for_log)
        self.dispatcher.start()
        self.qstates.start()
        self.hostwatch.start()
        if self.advance is not None:
            self.advance.start()
        return self.bound_port

    def _keep_lease(self, lease: MasterLease) -> None:
        """Renew the lease from now on; beat to the exec daemons; stop when it is lost."""
        state, links = self.state, self.execds.links

        def beat(msg: protocol.MasterBeat) -> None:
            for host in list(state.hosts):
                links.send(host, msg)

        lease.on_beat = beat
        lease.on_lost = lambda _why: state.stopping.set()
        # open now: a later master moves the file to a new inode at its takeover, so lines this
        # master might still write once it lost the lease go nowhere (detach_other_writers)
        self.accounting.open()
        lease.start()

    @property
    def lost_lease(self) -> bool:
        return self.lease is not None and self.lease.lost

    async def stop(self) -> None:
        self.dispatcher.stop()
        self.state.giveback.stop()
        self.qstates.stop()
        self.hostwatch.stop()
        if self.advance is not None:
            self.advance.stop()
        await self.server.close()
        if self.lost_lease:
            # its commits fail (fenced), or hang on the link that cut it off: it exits anyway
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.state.committer.close()), 1.0)
        else:
            await self.state.committer.close()
        self.accounting.close()
        if self.lease is not None:
            self.lease.stop()
        if not self.lost_lease:
            self.store.close()


def master_host_name(boot: dict[str, str], given: str | None = None) -> str:
    """The name the master gives itself: ``--host``, else the bootstrap's master_host_name
    (not in a cell with several master hosts: they share the file), else the host name."""
    if given:
        return given
    if not is_failover_cell(boot) and boot.get("master_host_name"):
        return boot["master_host_name"]
    return short_hostname()


LOOPBACK = ["127.0.0.1", "::1"]


def listen_addresses(bind: str | None, mode: str, several_masters: bool = False) -> list[str] | None:
    """Where the master listens on TCP: ``bind`` (``--bind`` or bootstrap ``master_bind``,
    comma-separated, ``*`` for every address); else a personal cell of one master listens on
    loopback only (its owner's commands run on this machine), a service cell or a cell with
    several master hosts (reached from the others) on every address."""
    if bind:
        return [b.strip() for b in bind.split(",") if b.strip()]
    return list(LOOPBACK) if mode == "personal" and not several_masters else None


def build_master(cell: Cell, *, clock: Clock | None = None, port: int | None = 0,
                 bind: str | None = None, lease: MasterLease | None = None,
                 host_name: str | None = None) -> MasterDaemon:
    """The master of ``cell`` with its state loaded from the store, not yet listening;
    with ``lease`` (held: see ``lease.start_lease``), the active master of a failover cell."""
    boot = cell.bootstrap()
    store_url = boot.get("store_url") or default_store_url(cell)
    make_private(cell.master_spool, store_url)
    store = Store(store_url)
    if lease is not None:
        guard_sessions(store.engine, int(lease.times.term * 1000 / 3))
        store.fence = lease.fence
        detach_other_writers(cell.accounting_file)
        detach_other_writers(devices_file(cell.accounting_file))
    store.create()
    mode = boot.get("mode", "personal")
    config = ClusterConfig()
    config.mode = mode
    clock = clock or SystemClock()
    metrics = Metrics(started=clock.now())
    state = Master(cell, boot, GroupCommitter(store, observe=metrics.store_commit.observe), config,
                   clock, key=auth.load_key(cell.key_file),
                   host_name=master_host_name(boot, host_name), mode=mode,
                   owner_uid=int(boot.get("owner_uid", os.getuid())), metrics=metrics)
    accounting = AccountingWriter(cell.accounting_file)
    members = Membership(state, load_tls(state))

    links = HostLinks(state.hosts)
    qstates = QueueStates(state, links)
    parallel = ParallelJobs(state, links, accounting)
    usage = ShareUsage()
    policies = MasterPolicies(state, usage)
    ends = TaskEnds(state, accounting, qstates, parallel, policies)
    broker = SessionBroker(state, links)
    pacer = Pacer(state.pass_wanted)
    dispatcher = Dispatcher(state, links, qstates, parallel, broker, pacer, policies)
    state.committer.before_batch = pacer.before_commit  # ends and the starts they allow: one commit

    execd_messages: protocol.HandlerTable[ExecdHandler] = protocol.HandlerTable("exec daemon")
    execds = ExecdRegistry(state, execd_messages, links, ends, qstates, parallel, members)
    verifier = SubmitVerifier(state, dispatcher)  # -w e|w|v|p of new jobs
    sessions = SessionRequests(state, broker, dispatcher, verifier)
    status_cache = StatusCache(state)  # the exec daemons' messages are events to it
    for message, on_message in (
        (protocol.LoadReport, execds.on_load),
        (protocol.JobStarted, execds.on_started),
        (protocol.JobFailedStart, execds.on_failed_start),
        (protocol.JobFinished, execds.on_finished),
        (protocol.SessionReady, sessions.on_ready),
        (protocol.PeInheritPort, parallel.on_inherit_port),
        (protocol.PeTaskStarted, parallel.on_task_started),
        (protocol.PeTaskFinished, parallel.on_task_finished),
    ):
        execd_messages.add(message, status_cache.event(on_message))

    actions = JobActions(state, links, parallel)
    jobs = JobRequests(state, actions, dispatcher, links, verifier)
    advance = AdvanceReservations(state, dispatcher, actions)
    policies.ar_job_ended = advance.wake
    status = StatusRequests(state, qstates, dispatcher, policies)
    queues = QueueRequests(state, qstates, links, ends)
    requests: protocol.HandlerTable[ClientHandler] = protocol.HandlerTable("client request")
    for kind, handler in (
        (protocol.Submit, jobs.submit),
        (protocol.SubmitMany, jobs.submit_many),
        (protocol.JobAction, jobs.job_action),
        (protocol.WaitJobs, jobs.wait_jobs),
        (protocol.Shutdown, jobs.shutdown),
        (protocol.JobsStatus, status.jobs),
        (protocol.QueuesStatus, status.queues),
        (protocol.StatusText, status.text),
        (protocol.HostsStatus, status.hosts),
        (protocol.JobDetails, status.details),
        (protocol.ClusterQueuesStatus, status.cluster_queues),
        (protocol.MetricsStatus, metrics.status),
        (protocol.AlterJob, AlterRequests(state, dispatcher).alter_job),
        (protocol.QueueAction, queues.queue_action),
        (protocol.SelectQueues, queues.select_queues),
        (protocol.ConfRequest, ConfRequests(state, links, members.host_removed).conf_request),
        (protocol.SessionSubmit, sessions.submit),
        (protocol.SessionWait, sessions.wait),
        (protocol.ArSubmit, advance.submit),
        (protocol.ArStatus, advance.status),
        (protocol.ArDelete, advance.delete),
        (protocol.QuotaStatus, QuotaRequests(state, dispatcher).quota_status),
        (protocol.TokenCreate, members.token_create),
        (protocol.TokenList, members.token_list),
        (protocol.TokenRevoke, members.token_revoke),
        (protocol.ReadAccounting, AccountingReads(cell.accounting_file).read),
    ):
        # fair queuing, scheduling's share (pacing.py); status reads kept (status_cache.py)
        if issubclass(kind, CACHED):
            requests.add(kind, status_cache.read(handler, pacer.paced))
        elif issubclass(kind, READS):
            requests.add(kind, pacer.paced(handler))
        else:
            requests.add(kind, status_cache.write(pacer.paced(handler)))

    loaded = store.load()
    state.load(loaded, store.image)
    config.load(members.load(loaded.objects))
    state.retained.load(loaded.objects)
    ends.load(loaded)
    qstates.load(loaded.objects)
    usage.load(loaded.objects)
    advance.load(loaded)
    state.restorers.update(config.restorers())
    state.restorers.update(qstates.restorers())
    state.restorers[finished.KIND] = state.retained.restore
    state.restorers[shareusage.KIND] = usage.restore
    state.restorers[advance_kind] = advance.restore
    server = Server(state, requests, execds, members, lease=lease)
    return MasterDaemon(cell, store, state, accounting, qstates, dispatcher, HostWatch(state, ends), execds,
                        server, requests, execd_messages, port, bind, lease=lease, advance=advance)


async def serve(cell: Cell, port: int, bind: str | None, *, host_name: str | None = None,
                lease: MasterLease | None = None, took_over_at: float | None = None) -> int:
    """Run the master until it is told to stop; its exit status (LOST_EXIT: it lost the lease).

    In a failover cell the master first takes the lease (``lease`` when qsys-shadowd took it,
    at monotonic time ``took_over_at``)."""
    boot = cell.bootstrap()
    name = master_host_name(boot, host_name)
    if lease is None and is_failover_cell(boot):
        lease = await asyncio.to_thread(start_lease, boot, name, port)
    daemon = build_master(cell, port=port, bind=bind, lease=lease, host_name=name)
    await daemon.start()
    collector = Collector()  # the daemon process's heap only (not in-process test masters)
    collector.start()
    if took_over_at is not None:
        log.info("serving as the master %.2fs after taking the lease over", time.monotonic() - took_over_at)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, daemon.state.stopping.set)
    await daemon.state.stopping.wait()
    log.info("master stopping")
    collector.stop()
    await daemon.stop()
    return LOST_EXIT if daemon.lost_lease else 0


def daemon_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """The options qsys-master and qsys-shadowd share."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--foreground", "-f", action="store_true", help="do not detach")
    parser.add_argument("--bind", default=None,
                        help="TCP addresses to listen on, comma-separated, * for all (default: loopback "
                             "in a personal cell of one master, all otherwise)")
    parser.add_argument("--host", default=None, help="the name of this master host (default the host name)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = daemon_parser("qsys-master", "the qsys master daemon")
    parser.add_argument("--port", type=int, default=None, help=f"TCP port (default from bootstrap or {DEFAULT_PORT})")
    args = parser.parse_args(argv)
    found = current_cell("qsys-master")
    if found is None:
        return 1
    cell, boot = found
    port = args.port if args.port is not None else own_port(boot, master_host_name(boot, args.host))
    bind = args.bind or boot.get("master_bind") or None
    return run_daemon(cell, args.foreground, lambda: serve(cell, port, bind, host_name=args.host))


def current_cell(prog: str) -> tuple[Cell, dict[str, str]] | None:
    """The cell a daemon serves and its bootstrap; None (said on stderr) when there is none."""
    cell = Cell.current()
    boot = cell.bootstrap()
    if not boot:
        print(f"{prog}: no cell at {cell.dir} (no bootstrap file)", file=sys.stderr)
        return None
    return cell, boot


def own_port(boot: dict[str, str], host_name: str) -> int:
    """The port of this host's entry in master_candidates, else master_port (else 7444)."""
    mine = own_candidate(boot, host_name) if is_failover_cell(boot) else None
    return mine[1] if mine else int(boot.get("master_port", DEFAULT_PORT))


def run_daemon(cell: Cell, foreground: bool, body: Callable[[], Coroutine[Any, Any, int]],
               pid_name: str = "master.pid") -> int:
    """Detach (unless ``foreground``), log to the spool, run ``body`` in an event loop; its
    exit status. A master that lost its lease leaves at once: a commit thread may hang on the
    link that cut it off, and nothing of it may linger."""
    os.umask(UMASK)
    cell.master_spool.mkdir(parents=True, exist_ok=True)
    code = daemonize.run(cell.master_spool / pid_name, cell.master_spool / "messages", foreground, body, log)
    if code == LOST_EXIT:
        logging.shutdown()
        os._exit(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
