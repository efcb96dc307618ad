"""``qsys-master``: the master daemon of the current cell, and the one place it is wired.

:func:`build_master` shows every part of the master and what each is given:

* ``core.Master``: the state (jobs, exec hosts, configuration), commit, events -- the bottom;
* ``execd_link``: ``HostLinks`` sends to exec daemons, ``ExecdRegistry`` serves their links;
* ``queue_states.QueueStates``: instance states (qmod, calendars, thresholds), suspension;
* ``pe.ParallelJobs``: slave hosts, inherit ports and pe task accounting of PE jobs;
* ``ends.TaskEnds``: the end of a task (accounting, rerun, forgetting the job);
* ``sessions.SessionBroker``: qrsh/qlogin sessions between client and exec host;
* ``dispatch.Dispatcher``: scheduling passes and the starts they order;
* the request handlers (``requests``, ``status``, ``alter``, ``qmod``, ``objects``,
  ``sessions``) in one client table, the exec daemon messages in another;
* ``server.Server``: the listeners (TCP and the Unix socket).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from dataclasses import dataclass

from qsys import auth, protocol
from qsys.daemonize import daemonize, setup_logging, write_pid
from qsys.master.accounting import AccountingWriter
from qsys.master.actions import JobActions
from qsys.master.advance import AdvanceReservations
from qsys.master.alter import AlterRequests
from qsys.master.clock import Clock, SystemClock
from qsys.master.config import ClusterConfig
from qsys.master.core import Master
from qsys.master.dispatch import Dispatcher
from qsys.master.ends import TaskEnds
from qsys.master.execd_link import ExecdHandler, ExecdRegistry, HostLinks
from qsys.master.objects import ConfRequests
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
from qsys.paths import DEFAULT_PORT, Cell
from qsys.store import GroupCommitter, Store

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
    advance: AdvanceReservations
    execds: ExecdRegistry
    server: Server
    requests: protocol.HandlerTable[ClientHandler]
    execd_messages: protocol.HandlerTable[ExecdHandler]
    port: int | None = 0  # TCP port to listen on (0: any free port; None: the Unix socket only)
    bind: str | None = None  # TCP addresses, comma-separated (None: see listen_addresses)
    bound_port: int | None = None

    async def start(self) -> int | None:
        """Complete a new cell's configuration, listen, start the scheduler; the TCP port."""
        cell, state = self.cell, self.state
        await state.config.bootstrap_defaults(state)
        hosts = listen_addresses(self.bind, state.mode)
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
        self.advance.start()
        return self.bound_port

    async def stop(self) -> None:
        self.dispatcher.stop()
        self.qstates.stop()
        self.advance.stop()
        await self.server.close()
        await self.state.committer.close()
        self.accounting.close()
        self.store.close()


LOOPBACK = ["127.0.0.1", "::1"]


def listen_addresses(bind: str | None, mode: str) -> list[str] | None:
    """Where the master listens on TCP: ``bind`` (``--bind`` or bootstrap ``master_bind``,
    comma-separated, ``*`` for every address); else a personal cell listens on loopback only
    (its owner's commands run on this machine) and a service cell on every address."""
    if bind:
        return [b.strip() for b in bind.split(",") if b.strip()]
    return list(LOOPBACK) if mode == "personal" else None


def build_master(cell: Cell, *, clock: Clock | None = None, port: int | None = 0,
                 bind: str | None = None) -> MasterDaemon:
    """The master of ``cell`` with its state loaded from the store, not yet listening."""
    boot = cell.bootstrap()
    store_url = boot.get("store_url") or default_store_url(cell)
    make_private(cell.master_spool, store_url)
    store = Store(store_url)
    store.create()
    mode = boot.get("mode", "personal")
    config = ClusterConfig()
    config.mode = mode
    state = Master(cell, boot, GroupCommitter(store), config, clock or SystemClock(),
                   key=auth.load_key(cell.key_file), host_name=boot.get("master_host_name") or short_hostname(),
                   mode=mode, owner_uid=int(boot.get("owner_uid", os.getuid())))
    accounting = AccountingWriter(cell.accounting_file)

    links = HostLinks(state.hosts)
    qstates = QueueStates(state, links)
    parallel = ParallelJobs(state, links, accounting)
    usage = ShareUsage()
    policies = MasterPolicies(state, usage)
    ends = TaskEnds(state, accounting, qstates, parallel, policies)
    broker = SessionBroker(state, links)
    dispatcher = Dispatcher(state, links, qstates, parallel, broker, policies)

    execd_messages: protocol.HandlerTable[ExecdHandler] = protocol.HandlerTable("exec daemon")
    execds = ExecdRegistry(state, execd_messages, links, ends, qstates, parallel)
    sessions = SessionRequests(state, broker, dispatcher)
    execd_messages.add(protocol.LoadReport, execds.on_load)
    execd_messages.add(protocol.JobStarted, execds.on_started)
    execd_messages.add(protocol.JobFailedStart, execds.on_failed_start)
    execd_messages.add(protocol.JobFinished, execds.on_finished)
    execd_messages.add(protocol.SessionReady, sessions.on_ready)
    execd_messages.add(protocol.PeInheritPort, parallel.on_inherit_port)
    execd_messages.add(protocol.PeTaskStarted, parallel.on_task_started)
    execd_messages.add(protocol.PeTaskFinished, parallel.on_task_finished)

    actions = JobActions(state, links, parallel)
    jobs = JobRequests(state, actions, dispatcher, links)
    advance = AdvanceReservations(state, dispatcher, actions)
    policies.ar_job_ended = advance.wake
    status = StatusRequests(state, qstates, dispatcher, policies)
    queues = QueueRequests(state, qstates, links)
    requests: protocol.HandlerTable[ClientHandler] = protocol.HandlerTable("client request")
    requests.add(protocol.Submit, jobs.submit)
    requests.add(protocol.SubmitMany, jobs.submit_many)
    requests.add(protocol.JobAction, jobs.job_action)
    requests.add(protocol.WaitJobs, jobs.wait_jobs)
    requests.add(protocol.Shutdown, jobs.shutdown)
    requests.add(protocol.JobsStatus, status.jobs)
    requests.add(protocol.QueuesStatus, status.queues)
    requests.add(protocol.HostsStatus, status.hosts)
    requests.add(protocol.JobDetails, status.details)
    requests.add(protocol.ClusterQueuesStatus, status.cluster_queues)
    requests.add(protocol.PassTimesStatus, dispatcher.pass_log.status)
    requests.add(protocol.AlterJob, AlterRequests(state, dispatcher).alter_job)
    requests.add(protocol.QueueAction, queues.queue_action)
    requests.add(protocol.SelectQueues, queues.select_queues)
    requests.add(protocol.ConfRequest, ConfRequests(state, links).conf_request)
    requests.add(protocol.SessionSubmit, sessions.submit)
    requests.add(protocol.SessionWait, sessions.wait)
    requests.add(protocol.ArSubmit, advance.submit)
    requests.add(protocol.ArStatus, advance.status)
    requests.add(protocol.ArDelete, advance.delete)
    requests.add(protocol.QuotaStatus, QuotaRequests(state, dispatcher).quota_status)

    loaded = store.load()
    state.load(loaded)
    config.load(loaded.objects)
    ends.load(loaded)
    qstates.load(loaded.objects)
    usage.load(loaded.objects)
    advance.load(loaded)
    return MasterDaemon(cell, store, state, accounting, qstates, dispatcher, advance, execds,
                        Server(state, requests, execds), requests, execd_messages, port, bind)


async def serve(cell: Cell, port: int, bind: str | None) -> None:
    daemon = build_master(cell, port=port, bind=bind)
    await daemon.start()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, daemon.state.stopping.set)
    await daemon.state.stopping.wait()
    log.info("master stopping")
    await daemon.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="qsys-master", description="the qsys master daemon")
    parser.add_argument("--foreground", "-f", action="store_true", help="do not detach")
    parser.add_argument("--port", type=int, default=None, help=f"TCP port (default from bootstrap or {DEFAULT_PORT})")
    parser.add_argument("--bind", default=None,
                        help="TCP addresses to listen on, comma-separated, * for all (default: loopback "
                             "in personal mode, all in service mode)")
    args = parser.parse_args(argv)
    cell = Cell.current()
    boot = cell.bootstrap()
    if not boot:
        print(f"qsys-master: no cell at {cell.dir} (no bootstrap file)", file=sys.stderr)
        return 1
    port = args.port if args.port is not None else int(boot.get("master_port", DEFAULT_PORT))
    bind = args.bind or boot.get("master_bind") or None
    os.umask(UMASK)
    cell.master_spool.mkdir(parents=True, exist_ok=True)
    pid_file = cell.master_spool / "master.pid"
    if args.foreground:
        write_pid(pid_file)
    else:
        daemonize(pid_file)
    setup_logging(cell.master_spool / "messages", args.foreground)
    try:
        asyncio.run(serve(cell, port, bind))
    except Exception:
        log.exception("master failed")
        return 1
    finally:
        try:
            if pid_file.read_text().strip() == str(os.getpid()):
                pid_file.unlink()
        except OSError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
