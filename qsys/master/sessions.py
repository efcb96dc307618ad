"""Interactive brokering: qrsh, qrlogin and qlogin sessions.

A session is a job of job_type ``qrsh`` (a command: rsh method), ``qrlogin`` (qrsh without a
command: rlogin method) or ``qlogin`` (qlogin method). The master

1. creates the job (``SessionSubmit``); ``-now y`` jobs get one scheduling pass or are refused;
2. puts a session into the job's Launch: the method, the *daemon* from the configuration of
   the host the session runs on, a one-time token, and the addresses the client may connect
   from (the client's host as the master saw it);
3. hears from the exec daemon which port it bound (``SessionReady``) and answers the waiting
   client -- only the job's owner -- with host, addresses, port, token and the *command* from
   the configuration of the client's host (``SessionWait``). A command/daemon mismatch
   (builtin on one end only) ends the job and fails the client with both settings named.

Everything else (qstat, qdel, accounting) treats the session as the job it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from qsys import auth, protocol
from qsys.errors import InvalidRequest, NotFound, NotSchedulable, PermissionDenied, QsysError
from qsys.master.submit import ImmediatePass, create_jobs, submitted
from qsys.master.validate import validate_spec
from qsys.remote.addresses import local_addresses

if TYPE_CHECKING:
    from qsys.jobspec import JobSpec
    from qsys.master.core import ExecHost, HostLink, Master
    from qsys.master.identity import Identity
    from qsys.master.jobs import Job
    from qsys.master.verify import SubmitVerifier
    from qsys.records import Submitted

log = logging.getLogger("qsys.master.sessions")

METHODS = {"qrsh": "rsh", "qrlogin": "rlogin", "qlogin": "qlogin"}
PROGRAMS = {"qrsh": "qrsh", "qrlogin": "qrsh", "qlogin": "qlogin"}
WAIT_SLICE = 0.5  # how often a waiting client's job is checked for having ended


@dataclass
class Session:
    job_id: int
    owner: str
    method: str  # rsh | rlogin | qlogin
    token: str
    client_host: str
    grant: list[str]  # addresses the client may connect from (daemon methods)
    command: str  # <method>_command of the client's host
    ready: asyncio.Future[protocol.SessionReady] = field(repr=False, default_factory=lambda: _future())
    daemon: str = ""
    host: str = ""


def _future() -> asyncio.Future[protocol.SessionReady]:
    return asyncio.get_running_loop().create_future()


def is_builtin(setting: str) -> bool:
    return setting.strip().lower() in ("", "builtin")


class SessionBroker:
    """The sessions the master currently brokers, by job id."""

    def __init__(self, state: Master, link: HostLink) -> None:
        self.state = state
        self.link = link
        self.sessions: dict[int, Session] = {}

    def open(self, job: Job, who: Identity) -> Session:
        method = METHODS[job.spec.job_type]
        grant = [who.address] if who.address else []
        if not who.address or who.host == self.state.host_name:
            grant += [a for a in local_addresses() if a not in grant]
        command = self.state.config.host_config(who.host).get(f"{method}_command", "builtin")
        session = Session(job.job_id, job.owner, method, auth.new_token(), who.host, grant, command)
        for stale in [j for j in self.sessions if j not in self.state.jobs]:
            del self.sessions[stale]  # their clients went away before asking for the grant
        self.sessions[job.job_id] = session
        return session

    def launch_session(self, job: Job, host: str) -> dict[str, Any] | None:
        """What the exec daemon needs for the session of ``job`` on ``host`` (None: batch)."""
        session = self.sessions.get(job.job_id)
        if session is None:
            # nobody waits for it (the master restarted): a token no client knows, so the
            # session port times out and the job ends
            method = METHODS.get(job.spec.job_type, "rsh")
            daemon = self.state.config.host_config(host).get(f"{method}_daemon", "builtin")
            return {"method": method, "daemon": daemon, "token": auth.new_token(), "grant": [],
                    "client_host": "", "command": _command_text(job.spec)}
        session.host = host
        session.daemon = self.state.config.host_config(host).get(f"{session.method}_daemon", "builtin")
        return {"method": session.method, "daemon": session.daemon, "token": session.token,
                "grant": list(session.grant), "client_host": session.client_host,
                "command": _command_text(job.spec)}

    def ready(self, host: str, msg: protocol.SessionReady) -> None:
        session = self.sessions.get(msg.job_id)
        if session is None or session.ready.done():
            return
        if msg.error:
            session.ready.set_exception(QsysError(f"error: the session on host {host} failed: {msg.error}"))
            return
        session.host = host
        session.ready.set_result(msg)

    def end_job(self, job: Job) -> None:
        """End a session's job the way qdel does."""
        for task in job.tasks.values():
            task.deleting = True
            self.link.send(task.master.host, protocol.KillJob(job.job_id, task.task_id, 9))

    async def wait(self, who: Identity, job_id: int) -> protocol.SessionGrant:
        session = self.sessions.get(job_id)
        if session is None:
            raise NotFound(f"error: no interactive session for job {job_id}")
        if session.owner != who.user:
            raise PermissionDenied(f"{who.user} - job {job_id} is not your session")
        try:
            # the session's outcome outlives its job: a refusal by the exec daemon (whose job
            # then ends at once) reaches a client that asks only after the end
            while not session.ready.done() and job_id in self.state.jobs:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(session.ready), WAIT_SLICE)
            if not session.ready.done():
                raise QsysError(f"error: job {job_id} ended before its session started")
            ready = session.ready.result()
            if is_builtin(session.command) != is_builtin(session.daemon):
                if (job := self.state.jobs.get(job_id)) is not None:
                    self.end_job(job)
                raise QsysError(
                    f"error: {session.method}_command of host {session.client_host} is "
                    f"\"{session.command}\" but {session.method}_daemon of host {session.host} is "
                    f"\"{session.daemon}\": both must be builtin, or neither")
            log.info("job=%d session granted to %s (%s@%s:%d)", job_id, who.user, session.method,
                     session.host, ready.port)
            return protocol.SessionGrant(job_id, session.host, ready.port, list(ready.addresses), session.token,
                                         session.method, session.command, session.daemon)
        finally:
            self.sessions.pop(job_id, None)


def _command_text(spec: JobSpec) -> str:
    """The command as one line (QRSH_COMMAND, and what the builtin server runs)."""
    if spec.job_type != "qrsh":
        return ""
    return " ".join([spec.command, *spec.args])


# ---------------------------------------------------------------- requests


class SessionRequests:
    """The client requests and the exec daemon message of interactive sessions."""

    def __init__(self, state: Master, broker: SessionBroker, immediate: ImmediatePass,
                 verifier: SubmitVerifier) -> None:
        self.state = state
        self.verifier = verifier
        self.broker = broker
        self.immediate = immediate

    async def submit(self, who: Identity, msg: protocol.SessionSubmit) -> Submitted:
        state = self.state
        spec = msg.spec
        if spec.job_type not in METHODS:
            raise InvalidRequest(f"not an interactive job type: {spec.job_type!r}")
        if spec.tasks is not None:
            raise InvalidRequest("an interactive job cannot be an array job")
        validate_spec(state, who, spec)
        warnings = await self.verifier.check(who, spec)  # -w e|w|v|p
        (job,) = await create_jobs(state, who, [spec])
        self.broker.open(job, who)
        if spec.now:
            if not await self.immediate.run_now(job):
                self.broker.sessions.pop(job.job_id, None)
                await state.commit(state.forget_job(job))
                raise NotSchedulable("\n".join([*warnings, f'Your "{PROGRAMS[spec.job_type]}" request could '
                                                'not be scheduled, try again later.']))
        else:
            state.schedule_soon()
        return submitted(job, warnings)

    async def wait(self, who: Identity, msg: protocol.SessionWait) -> protocol.SessionGrant:
        return await self.broker.wait(who, msg.job_id)

    async def on_ready(self, entry: ExecHost, msg: protocol.SessionReady) -> None:
        self.broker.ready(entry.name, msg)
