"""The master's part of parallel jobs: slave hosts, the PE's procedures, pe task accounting.

* At dispatch the master task's Launch gets the PE's ``start_proc_args``/``stop_proc_args``
  and ``control_slaves``; every other granted host is told of the job (PeSlaveStart) so its
  exec daemon accepts ``qrsh -inherit`` tasks of it and can kill what it leaves.
* When the master task ends or the job is deleted, the slave hosts are told (PeSlaveEnd):
  they kill every process carrying the job's group ID there.
* Exec daemons tell the master of pe tasks (PeTaskStarted/PeTaskFinished, never asking it):
  each finished pe task gets its own accounting record (``pe_taskid`` set), or, when the PE
  has ``accounting_summary TRUE``, its usage is added to the master task's one record.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import logging
from typing import TYPE_CHECKING, Any

from qsys import protocol
from qsys.master.launches import devices_on, launch_for
from qsys.record import replace
from qsys.store import AddAccounting

if TYPE_CHECKING:
    from qsys.launch import Launch
    from qsys.master.accounting import AccountingWriter
    from qsys.master.core import ExecHost, HostLink, Master
    from qsys.master.jobs import Job, Task

log = logging.getLogger("qsys.master.pe")

SUMMED = ("ru_utime", "ru_stime", "cpu", "mem", "io", "iow")
DONE_KEPT = 1000  # ended PE jobs kept for pe tasks that report after the master task


def _on(text: str | None) -> bool:
    return str(text or "").strip().upper() == "TRUE"


def _none(text: str | None) -> str:
    value = str(text or "").strip()
    return "" if value.upper() == "NONE" else value


def slave_hosts(task: Task) -> dict[str, tuple[str, int]]:
    """Host -> (first queue, slots) of every granted host but the master task's."""
    out: dict[str, tuple[str, int]] = {}
    for a in task.assignments:
        if a.host == task.master.host:
            continue
        queue, slots = out.get(a.host, (a.queue, 0))
        out[a.host] = (queue, slots + a.slots)
    return out


class ParallelJobs:
    """The PE jobs' hosts, inherit ports and pe task accounting."""

    def __init__(self, state: Master, link: HostLink, accounting: AccountingWriter) -> None:
        self.state = state
        self.link = link
        self.accounting = accounting
        self.inherit_ports: dict[str, tuple[list[str], int]] = {}  # host -> (addresses, port)
        self._ended: dict[tuple[int, int], tuple[Job, Task]] = {}  # for pe tasks reporting late

    def setting(self, pe_name: str, attr: str) -> str:
        """A PE attribute in Grid Engine's text."""
        pe = self.state.config.pes.get(pe_name)
        if pe is None:
            return ""
        value = getattr(pe, attr, None)
        if value is None:
            return "NONE"
        if isinstance(value, bool):
            return "TRUE" if value else "FALSE"
        if isinstance(value, (list, tuple)):
            return " ".join(str(v) for v in value) or "NONE"
        return str(value)

    # ------------------------------------------------------------ dispatch and end

    def prepare(self, job: Job, task: Task, launch: Launch) -> list[tuple[str, Any]]:
        """Complete a PE job's Launch; the PeSlaveStart messages for its other hosts."""
        if not task.pe:
            return []
        launch.pe_start = _none(self.setting(task.pe, "start_proc_args"))
        launch.pe_stop = _none(self.setting(task.pe, "stop_proc_args"))
        launch.control_slaves = _on(self.setting(task.pe, "control_slaves"))
        launch.job_is_first_task = _on(self.setting(task.pe, "job_is_first_task"))
        if launch.control_slaves:
            launch.pe_token = self.job_token(job, task)
            ports = self.inherit_ports
            launch.pe_addrs = {a.host: list(ports[a.host]) for a in task.assignments if a.host in ports}
        out = []
        for host, (queue, slots) in slave_hosts(task).items():
            slave = copy.copy(launch)
            slave.spec = {k: v for k, v in launch.spec.items() if k != "script"}
            slave.host, slave.queue, slave.slots = host, queue.split("@")[0], slots
            slave.devices = devices_on(task, host)
            slave.pe_start = slave.pe_stop = ""
            out.append((host, protocol.PeSlaveStart(slave.to_wire())))
        return out

    def job_token(self, job: Job, task: Task) -> str:
        """The PE job's token for qrsh -inherit: the same on every host (and after a restart)."""
        text = f"pe-task:{job.job_id}.{task.task_id}:{task.dispatch_time!r}".encode()
        return hmac.new(self.state.key, text, hashlib.sha256).hexdigest()[:40]

    def end_slaves(self, job: Job, task: Task, sig: int = 9) -> None:
        """Tell every slave host of ``task`` that the job ended (or must die)."""
        if not task.pe:
            return
        for host in slave_hosts(task):
            self.link.send(host, protocol.PeSlaveEnd(job.job_id, task.task_id, sig))

    def final_report(self, job: Job, task: Task, report: protocol.ExitReport) -> protocol.ExitReport:
        """The master task's report with the summed usage of its pe tasks (accounting_summary)."""
        self.end_slaves(job, task)
        if not task.pe:
            return report
        done = self._ended
        done[(job.job_id, task.task_id)] = (job, task)
        while len(done) > DONE_KEPT:
            done.pop(next(iter(done)))
        if not task.usage:
            return report
        summed = {key: max(float(getattr(report, key)), value) if key == "maxvmem"
                  else float(getattr(report, key)) + value for key, value in task.usage.items()}
        return replace(report, **summed)

    def slave_unreachable(self, msg: protocol.PeSlaveStart) -> None:
        """A slave host was down at dispatch: it hears of the job when it registers again."""
        log.warning("host=%s job=%s.%s: slave host not connected; told when it registers", msg.job.get("host"),
                    msg.job.get("job_id"), msg.job.get("task_id"))

    def resend_slaves(self, host: str) -> None:
        """A (re)registered exec host hears again of the running PE jobs it is a slave host of."""
        for job in self.state.jobs.values():
            for task in job.tasks.values():
                if task.pe and host in slave_hosts(task):
                    launch = launch_for(self.state, job, task)
                    for slave_host, msg in self.prepare(job, task, launch):
                        if slave_host == host:
                            self.link.send(host, msg)

    # ------------------------------------------------------------ exec daemon messages

    async def on_inherit_port(self, entry: ExecHost, msg: protocol.PeInheritPort) -> None:
        self.inherit_ports[entry.name] = (list(msg.addresses), int(msg.port))
        log.info("host=%s accepts qrsh -inherit on port %d", entry.name, msg.port)

    async def on_task_started(self, entry: ExecHost, msg: protocol.PeTaskStarted) -> None:
        log.info("host=%s job=%d.%d pe task %s started (pid %d)", entry.name, msg.job_id, msg.task_id,
                 msg.pe_task_id, msg.pid)

    async def on_task_finished(self, entry: ExecHost, msg: protocol.PeTaskFinished) -> None:
        state = self.state
        found = self._find(msg.job_id, msg.task_id)
        if found is not None:
            job, task = found
            summary = _on(self.setting(task.pe or "", "accounting_summary"))
            if summary and msg.job_id in state.jobs:
                for key in SUMMED:
                    task.usage[key] = task.usage.get(key, 0.0) + float(getattr(msg.report, key))
                task.usage["maxvmem"] = max(task.usage.get("maxvmem", 0.0), float(msg.report.maxvmem))
            else:
                await self._write_task_record(job, task, msg)
        self.link.send(entry.name, protocol.PeTaskAck(msg.job_id, msg.task_id, msg.pe_task_id))

    def _find(self, job_id: int, task_id: int) -> tuple[Job, Task] | None:
        job = self.state.jobs.get(job_id)
        task = job.tasks.get(task_id) if job else None
        if job is not None and task is not None:
            return job, task
        return self._ended.get((job_id, task_id))

    async def _write_task_record(self, job: Job, task: Task, msg: protocol.PeTaskFinished) -> None:
        record = self.accounting.record(job, task, msg.report, self.state.clock.now())
        queue = next((a.queue for a in task.assignments if a.host == msg.host), task.master.queue)
        record.update(hostname=msg.host, qname=queue, pe_taskid=msg.pe_task_id)
        await self.state.commit([AddAccounting(job.job_id, task.task_id, job.owner, record["end_time"], record)])
        self.accounting.write(record)
