"""The configuration the master holds: global and host-local configuration, queues, PEs,
complexes, managers/operators -- and what follows from them for the scheduler and the
exec hosts (snapshots, effective host configuration, the Launch of a task).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from qsys.launch import Launch, PeHostEntry

if TYPE_CHECKING:
    from qsys.master.core import Master
    from qsys.master.execd_link import ExecHost
    from qsys.master.jobs import Job, Task

DEFAULT_GLOBAL: dict[str, str] = {
    "execd_spool_dir": "default",
    "mailer": "/usr/bin/mail",
    "xterm": "/usr/bin/xterm",
    "load_sensor": "none",
    "prolog": "none",
    "epilog": "none",
    "shell_start_mode": "posix_compliant",
    "login_shells": "bash,sh,ksh,csh,tcsh",
    "min_uid": "1000",
    "min_gid": "1000",
    "user_lists": "none",
    "xuser_lists": "none",
    "load_report_time": "00:00:10",
    "max_unheard": "00:05:00",
    "reschedule_unknown": "00:00:00",
    "loglevel": "log_warning",
    "administrator_mail": "root",
    "finished_jobs": "100",
    "gid_range": "20000-20100",
    "qlogin_command": "builtin",
    "qlogin_daemon": "builtin",
    "rlogin_command": "builtin",
    "rlogin_daemon": "builtin",
    "rsh_command": "builtin",
    "rsh_daemon": "builtin",
    "max_aj_instances": "2000",
    "max_aj_tasks": "75000",
    "max_u_jobs": "0",
    "max_jobs": "0",
}

DEFAULT_QUEUE: dict[str, str] = {
    "hostlist": "@allhosts",
    "seq_no": "0",
    "load_thresholds": "NONE",
    "qtype": "BATCH INTERACTIVE",
    "pe_list": "make smp mpi",
    "rerun": "FALSE",
    "slots": "1",
    "tmpdir": "/tmp",
    "shell": "/bin/sh",
    "prolog": "NONE",
    "epilog": "NONE",
    "shell_start_mode": "posix_compliant",
    "complex_values": "NONE",
    "s_rt": "INFINITY",
    "h_rt": "INFINITY",
    "s_cpu": "INFINITY",
    "h_cpu": "INFINITY",
    "s_vmem": "INFINITY",
    "h_vmem": "INFINITY",
}

DEFAULT_PES: dict[str, dict[str, str]] = {
    "smp": {"slots": "999", "allocation_rule": "$pe_slots", "control_slaves": "TRUE", "job_is_first_task": "TRUE"},
    "mpi": {"slots": "999", "allocation_rule": "$fill_up", "control_slaves": "TRUE", "job_is_first_task": "FALSE"},
    "make": {"slots": "999", "allocation_rule": "$round_robin", "control_slaves": "TRUE", "job_is_first_task": "FALSE"},
}

LIMITS = ("h_rt", "s_rt", "h_cpu", "s_cpu", "h_vmem", "s_vmem")


@dataclass(slots=True)
class QueueInstance:
    queue: str
    host: str
    qtype: str  # "BIP"
    slots: int
    states: str


def _split_list(text: str) -> list[str]:
    if not text or text.upper() == "NONE":
        return []
    return [item for item in text.replace(",", " ").split() if item]


def value_for_host(text: str, host: str) -> str:
    """A queue attribute with per-host overrides: ``1,[node1=4]`` -> ``4`` on node1."""
    default = text
    overrides: dict[str, str] = {}
    if "[" in text:
        head, _, rest = text.partition("[")
        default = head.rstrip(", ")
        for part in ("[" + rest).split("["):
            part = part.strip().rstrip(",").rstrip("]").strip()
            if "=" in part:
                name, _, value = part.partition("=")
                overrides[name.strip()] = value.strip()
    return overrides.get(host, default)


class ClusterConfig:
    def __init__(self) -> None:
        self.global_conf: dict[str, str] = dict(DEFAULT_GLOBAL)
        self.local_conf: dict[str, dict[str, str]] = {}
        self.queues: dict[str, dict[str, str]] = {}
        self.pes: dict[str, dict[str, str]] = {}
        self.exec_hosts: dict[str, dict[str, str]] = {}
        self.sconf: dict[str, str] = {"queue_sort_method": "load", "load_formula": "np_load_avg"}
        self.managers: set[str] = {"root"}
        self.operators: set[str] = set()
        self._complexes: dict[str, Any] | None = None
        self.mode = "personal"  # told to every exec host as execd_mode

    # ------------------------------------------------------------ persistence

    def load(self, objects: dict[tuple[str, str], dict[str, Any]]) -> None:
        for (kind, name), record in objects.items():
            attrs = dict(record.get("attrs", {}))
            if kind == "conf":
                if name == "global":
                    self.global_conf.update(attrs)
                else:
                    self.local_conf[name] = attrs
            elif kind == "queue":
                self.queues[name] = attrs
            elif kind == "pe":
                self.pes[name] = attrs
            elif kind == "exechost":
                self.exec_hosts[name] = attrs
            elif kind == "manager":
                self.managers.add(name)
            elif kind == "operator":
                self.operators.add(name)

    async def bootstrap_defaults(self, master: Master) -> None:
        """A new cell gets all.q over every exec host and the default PEs."""
        from qsys.store import PutObject

        changes = []
        boot = master.boot
        if not self.queues:
            queue = dict(DEFAULT_QUEUE)
            queue["slots"] = boot.get("default_slots") or str(os.cpu_count() or 1)
            self.queues["all.q"] = queue
            changes.append(PutObject("queue", "all.q", {"attrs": queue}))
            for name, attrs in DEFAULT_PES.items():
                self.pes[name] = dict(attrs)
                changes.append(PutObject("pe", name, {"attrs": attrs}))
            if master.mode == "personal":
                self.global_conf["min_uid"] = "0"
                self.global_conf["min_gid"] = "0"
                changes.append(PutObject("conf", "global", {"attrs": self.global_conf}))
        for host in _split_list(boot.get("exec_hosts", "")):
            if host not in self.exec_hosts:
                self.exec_hosts[host] = {}
                changes.append(PutObject("exechost", host, {"attrs": {}}))
        await master.commit(changes)

    async def ensure_exec_host(self, master: Master, host: str) -> None:
        from qsys.store import PutObject

        if host not in self.exec_hosts:
            self.exec_hosts[host] = {}
            await master.commit([PutObject("exechost", host, {"attrs": {}})])

    # ------------------------------------------------------------ lookups

    def host_config(self, host: str) -> dict[str, str]:
        merged = dict(self.global_conf)
        merged.update(self.local_conf.get(host, {}))
        merged["execd_mode"] = self.mode
        return merged

    def queue_names(self) -> list[str]:
        return sorted(self.queues)

    def pe_names(self) -> list[str]:
        return sorted(self.pes)

    def all_exec_hosts(self, live: dict[str, ExecHost]) -> list[str]:
        return sorted(set(self.exec_hosts) | set(live))

    def queue_hosts(self, queue: str, live: dict[str, ExecHost]) -> list[str]:
        hosts: list[str] = []
        for item in _split_list(self.queues[queue].get("hostlist", "")):
            if item == "@allhosts":
                hosts.extend(self.all_exec_hosts(live))
            elif not item.startswith("@"):
                hosts.append(item)
        return sorted(dict.fromkeys(hosts))

    def queue_attr(self, queue: str, attr: str, host: str) -> str:
        text = self.queues.get(queue, {}).get(attr, DEFAULT_QUEUE.get(attr, "NONE"))
        return value_for_host(text, host)

    def queue_instances(self, live: dict[str, ExecHost]) -> list[QueueInstance]:
        out = []
        for queue in self.queue_names():
            qtype = self.queues[queue].get("qtype", "BATCH INTERACTIVE").upper()
            for host in self.queue_hosts(queue, live):
                code = ("B" if "BATCH" in qtype else "") + ("I" if "INTERACTIVE" in qtype else "")
                if _split_list(self.queue_attr(queue, "pe_list", host)):
                    code += "P"
                out.append(QueueInstance(queue, host, code, int(self.queue_attr(queue, "slots", host)), ""))
        return out

    def complexes(self) -> dict[str, Any]:
        if self._complexes is None:
            self._complexes = dict(__import__("qsys.sched", fromlist=["DEFAULT_COMPLEXES"]).DEFAULT_COMPLEXES)
        return self._complexes

    def resolve_complex(self, name: str) -> Any:
        complexes = self.complexes()
        if name in complexes:
            return complexes[name]
        for cdef in complexes.values():
            if cdef.shortcut == name:
                return cdef
        return None

    def global_values(self) -> dict[str, str]:
        return {}

    def sched_value(self, name: str, default: str) -> str:
        return self.sconf.get(name, default)

    # ------------------------------------------------------------ scheduler snapshots

    def host_snapshots(self, live: dict[str, ExecHost]) -> dict[str, Any]:
        from qsys import sched

        out = {}
        for name in self.all_exec_hosts(live):
            host = live.get(name)
            load: dict[str, str] = {}
            if host is not None and host.up:
                load = {k: str(v) for k, v in host.load.items()}
                load.setdefault("arch", host.arch)
                load.setdefault("num_proc", str(host.processors))
            attrs = self.exec_hosts.get(name, {})
            cvalues = dict(_pairs(attrs.get("complex_values", "NONE")))
            out[name] = sched.HostSnap(name=name, load=load, complex_values=cvalues, consumed={})
        return out

    def queue_instance_snapshots(self, live: dict[str, ExecHost], used: Any) -> list[Any]:
        from qsys import sched

        out = []
        for qi in self.queue_instances(live):
            host = live.get(qi.host)
            states = qi.states + ("" if host is not None and host.up else "u")
            qtype = set()
            if "B" in qi.qtype:
                qtype.add("BATCH")
            if "I" in qi.qtype:
                qtype.add("INTERACTIVE")
            cvalues = dict(_pairs(self.queue_attr(qi.queue, "complex_values", qi.host)))
            for limit in LIMITS:
                cvalues[limit] = self.queue_attr(qi.queue, limit, qi.host)
            out.append(sched.QueueInstanceSnap(
                queue=qi.queue,
                host=qi.host,
                seq_no=int(self.queue_attr(qi.queue, "seq_no", qi.host) or 0),
                slots=qi.slots,
                used_slots=used.get((qi.queue, qi.host), 0),
                states=states,
                qtype=qtype,
                pe_list=_split_list(self.queue_attr(qi.queue, "pe_list", qi.host)),
                complex_values=cvalues,
                consumed={},
            ))
        return out

    def pe_snapshots(self, master: Master) -> dict[str, Any]:
        from qsys import sched

        used: dict[str, int] = {}
        for job in master.jobs.values():
            for task in job.tasks.values():
                if task.pe:
                    used[task.pe] = used.get(task.pe, 0) + task.slots
        return {
            name: sched.PeSnap(
                name=name,
                slots=int(attrs.get("slots", "0")),
                used_slots=used.get(name, 0),
                allocation_rule=attrs.get("allocation_rule", "$pe_slots"),
                control_slaves=attrs.get("control_slaves", "FALSE").upper() == "TRUE",
                job_is_first_task=attrs.get("job_is_first_task", "TRUE").upper() == "TRUE",
            )
            for name, attrs in self.pes.items()
        }

    def pending_snapshot(self, job: Job, running: int) -> Any:
        from qsys import sched

        spec = job.spec
        limit = spec.task_concurrency
        want = len(job.pending) if not limit else max(0, limit - running)
        pe = (spec.pe.name, spec.pe.min_slots, spec.pe.max_slots) if spec.pe else None
        return sched.PendingJob(
            job_id=job.job_id,
            task_ids=job.pending.first(max(want, 1)) if want else [],
            running_tasks=running,
            task_concurrency=limit,
            priority=spec.priority,
            submit_time=job.submit_time,
            owner=job.owner,
            interactive=spec.job_type != "batch",
            hard_resources=dict(spec.hard_resources),
            hard_queues=list(spec.hard_queues),
            master_queues=list(spec.master_queues),
            pe=pe,
            start_time=spec.start_time,
            held=bool(job.holds or job.error),
            waiting_on=sorted(job.predecessors),
            now=spec.now,
        )

    # ------------------------------------------------------------ the start of a task

    def launch_for(self, master: Master, job: Job, task: Task) -> Launch:
        from qsys.sched.values import parse_memory, parse_time

        first = task.master
        spec = job.spec
        host_conf = self.host_config(first.host)
        limits: dict[str, float | None] = {}
        for name in LIMITS:
            queue_text = self.queue_attr(first.queue, name, first.host)
            job_text = spec.hard_resources.get(name)
            parse = parse_time if name.endswith(("_rt", "_cpu")) else parse_memory
            values = [parse(t) for t in (queue_text, job_text) if t and t.upper() != "INFINITY"]
            limits[name] = min(values) if values else None
        boot = master.boot
        return Launch(
            job_id=job.job_id,
            task_id=task.task_id,
            is_array=job.is_array,
            spec=spec.to_wire(),
            owner=job.owner,
            uid=job.uid,
            group=job.group,
            gid=job.gid,
            queue=first.queue,
            host=first.host,
            slots=first.slots,
            total_slots=task.slots,
            hosts=[PeHostEntry(a.host, a.slots, f"{a.queue}@{a.host}") for a in task.assignments] if task.pe else [],
            pe=task.pe,
            restarted=task.restarted,
            submit_time=job.submit_time,
            h_rt=limits["h_rt"],
            s_rt=limits["s_rt"],
            h_cpu=limits["h_cpu"],
            s_cpu=limits["s_cpu"],
            h_vmem=int(limits["h_vmem"]) if limits["h_vmem"] else None,
            s_vmem=int(limits["s_vmem"]) if limits["s_vmem"] else None,
            tmpdir_base=self.queue_attr(first.queue, "tmpdir", first.host),
            shell=self.queue_attr(first.queue, "shell", first.host),
            shell_start_mode=_none(self.queue_attr(first.queue, "shell_start_mode", first.host))
            or host_conf.get("shell_start_mode", "posix_compliant"),
            login_shells=_split_list(host_conf.get("login_shells", "")),
            prolog=_none(self.queue_attr(first.queue, "prolog", first.host)) or _none(host_conf.get("prolog", "")),
            epilog=_none(self.queue_attr(first.queue, "epilog", first.host)) or _none(host_conf.get("epilog", "")),
            cell=master.cell.name,
            qsys_root=str(master.cell.root),
            binary_path=boot.get("binary_path") or os.path.dirname(sys.executable),
        )


def _none(text: str) -> str:
    return "" if not text or text.upper() == "NONE" else text


def _pairs(text: str) -> list[tuple[str, str]]:
    out = []
    for item in _split_list(text):
        name, sep, value = item.partition("=")
        if sep:
            out.append((name, value))
    return out
