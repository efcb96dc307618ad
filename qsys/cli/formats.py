"""Grid Engine 8.1.9's text output for qstat, qhost and qsub, as pure functions.

Scripts parse these layouts, so every width, truncation and trailing space follows what
SGE 8.1.9 prints (see tests/reference/sge-8.1.9). Each function returns the whole text,
"" when SGE prints nothing; multi-line results end with a newline.
"""

from __future__ import annotations

import time

from qsys.jobspec import JobSpec, TaskRange
from qsys.records import HostJob, HostRow, JobRow, QueueInstanceRow, TaskEnd

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs a command milliseconds at run time
    from collections.abc import Iterable, Mapping, Sequence
    from typing import Any

QUEUE_WIDTH = 30  # SGE's default queue column width (names are cut, not widened)
NO_TASK = " " * 7  # the ja-task-ID column of a non-array job
_TIME_BLANK = " " * 20

# ----------------------------------------------------------------------------- times


def format_datetime(epoch: float) -> str:
    """qstat's "submit/start at" column: 11/21/2026 16:15:08 (local time)."""
    second = int(epoch)
    text = _DATETIMES.get(second)
    if text is None:  # thousands of rows share a few submit seconds
        text = _DATETIMES[second] = time.strftime("%m/%d/%Y %H:%M:%S", time.localtime(second))
    return text


_DATETIMES: dict[int, str] = {}


def format_ctime(epoch: float) -> str:
    """C ctime() without the newline, as qstat -j prints: Sat Nov 21 16:15:08 2026."""
    return time.asctime(time.localtime(epoch))


def format_iso(epoch: float) -> str:
    """The XML outputs' times: 2026-11-21T16:15:08 (local time)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(epoch))


def format_cpu_days(seconds: float) -> str:
    """qstat -ext's cpu column: d:hh:mm:ss."""
    secs = int(seconds)
    days, secs = divmod(secs, 86400)
    hours, secs = divmod(secs, 3600)
    minutes, secs = divmod(secs, 60)
    return f"{days}:{hours:02d}:{minutes:02d}:{secs:02d}"


def format_cpu_clock(seconds: float) -> str:
    """qstat -j's usage cpu: hh:mm:ss, with a day prefix once past 24 hours."""
    secs = int(seconds)
    days, secs = divmod(secs, 86400)
    hours, secs = divmod(secs, 3600)
    minutes, secs = divmod(secs, 60)
    clock = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{days}:{clock}" if days else clock


def format_memory(value: float, decimals: int = 1) -> str:
    """Bytes scaled by 1024 with SGE's unit letter: 23.5G, 214.1M, 0.0 (qhost uses 1
    decimal, qhost -F and qstat -j 3)."""
    for unit, scale in (("G", 1024.0**3), ("M", 1024.0**2), ("K", 1024.0)):
        if abs(value) >= scale:
            return f"{value / scale:.{decimals}f}{unit}"
    return f"{value:.{decimals}f}"


# ----------------------------------------------------------------------------- qstat job lists

_HEAD = f"{'job-ID':<7} {'prior':<7} "
_WHO = f"{'name':<10} {'user':<12} "
_TAIL = f"{'queue':<{QUEUE_WIDTH}} "
JOBS_HEADER = f"{_HEAD}{_WHO}{'state':<5} {'submit/start at':<19} {_TAIL}slots ja-task-ID "
TASKS_HEADER = (f"{_HEAD}{_WHO}{'state':<5} {'submit/start at':<19} {_TAIL}master ja-task-ID "
                f"task-ID state {'cpu':<10} {'mem':<7} {'io':<7} stat failed ")
EXT_HEADER = (f"{_HEAD}{'ntckts':<7} {_WHO}{'project':<16} {'department':<10} {'state':<5} "
              f"{'cpu':<10} {'mem':<7} {'io':<7} tckts ovrts otckt ftckt stckt share {_TAIL}"
              "slots ja-task-ID ")


def _with_rule(header: str) -> list[str]:
    return [header, "-" * (len(header) - 1)]


def _text(lines: Iterable[str]) -> str:
    return "".join(line + "\n" for line in lines)


def is_running(row: JobRow) -> bool:
    """A row with a queue is a dispatched task (t, r, s, ...); the others wait (or ended)."""
    return bool(row.queue)


def is_finished(row: JobRow) -> bool:
    """A finished job (qstat -s z: Grid Engine's state z)."""
    return row.state == "z"


def cut(text: str | None, width: int) -> str:
    return f"{(text or '')[:width]:<{width}}"


def task_column(row: JobRow) -> str:
    return row.tasks if row.is_array and row.tasks else NO_TASK


def row_start(row: JobRow, ext: bool = False, with_time: bool = True) -> str:
    """job-ID, prior, [ntckts], name, user, [project, department], state, [time]."""
    parts = [f"{row.job_id:>7} {row.priority:7.5f} "]
    if ext:
        parts.append(f"{ntckts(row):7.5f} ")
    parts.append(f"{cut(row.name, 10)} {cut(row.owner, 12)} ")
    if ext:
        parts.append(f"{cut(row.project or 'NA', 16)} {cut(row.department or 'NA', 10)} ")
    parts.append(f"{cut(row.state, 5)} ")
    if with_time:
        when = row.start_time if is_running(row) and row.start_time else row.submit_time
        parts.append(f"{format_datetime(when)} ")
    return "".join(parts)


def _job_line(row: JobRow) -> str:
    """One line of plain qstat (``row_start`` and the queue columns in one format: the line
    of 5,000 jobs is the hot part of a qstat)."""
    queue = row.queue or ""
    when = row.start_time if queue and row.start_time else row.submit_time
    return (f"{row.job_id:>7} {row.priority:7.5f} {(row.name or '')[:10]:<10} {(row.owner or '')[:12]:<12} "
            f"{(row.state or '')[:5]:<5} {format_datetime(when)} {queue[:QUEUE_WIDTH]:<{QUEUE_WIDTH}} "
            f"{row.slots:>5} {row.tasks if row.is_array and row.tasks else NO_TASK}")


def listing(header: str, texts: Iterable[str]) -> str:
    """A job listing: the header, its rule and the rows' texts (each a row's lines)."""
    return _text(_with_rule(header)) + "".join(texts)


def job_text(row: JobRow) -> str:
    """A row's text in plain qstat."""
    return _job_line(row) + "\n"


def qstat_jobs(rows: Sequence[JobRow]) -> str:
    """Plain qstat; nothing at all when there are no jobs."""
    if not rows:
        return ""
    return listing(JOBS_HEADER, map(job_text, rows))


def _resource_lines(label: str, values: Mapping[str, str], contribution: bool) -> list[str]:
    """-r's resource block: one request per line, the hard ones with their urgency
    contribution (0 for every complex without an urgency, which is all we have)."""
    items = [f"{k}={v} (0.000000)" if contribution else f"{k}={v}" for k, v in values.items()]
    if not items:
        return [f"       {label:<18}"]
    return [f"       {label:<18}{items[0]}"] + [" " * 25 + item for item in items[1:]]


def requested_lines(row: JobRow) -> list[str]:
    """The lines qstat -r adds under a job (SGE 8.1.9 order)."""
    lines = [f"       {'Full jobname:':<18}{row.name}"]
    if is_running(row):
        lines.append(f"       {'Master Queue:':<18}{row.master_queue or row.queue}")
    if row.requested_pe:
        lines.append(f"       {'Requested PE:':<18}{row.requested_pe}")
    if row.granted_pe and is_running(row):
        lines.append(f"       {'Granted PE:':<18}{row.granted_pe}")
    if row.checkpoint:
        lines.append(f"       {'Checkpoint Env.:':<18}{row.checkpoint}")
    lines += _resource_lines("Hard Resources:", row.hard_resources, True)
    lines += _resource_lines("Soft Resources:", row.soft_resources, False)
    if row.hard_queues:
        lines.append("       Hard requested queues: " + ", ".join(row.hard_queues))
    if row.soft_queues:
        lines.append("       Soft requested queues: " + ", ".join(row.soft_queues))
    if row.hold_jids:
        lines.append("       Predecessor Jobs (request): " + ", ".join(row.hold_jids))
    if row.predecessors:
        lines.append("       Predecessor Jobs: " + ", ".join(map(str, row.predecessors)))
    if row.hold_jids_ad:
        lines.append("       Predecessor Array Jobs (request): " + ", ".join(row.hold_jids_ad))
    if row.ad_predecessors:
        lines.append("       Predecessor Array Jobs: " + ", ".join(map(str, row.ad_predecessors)))
    lines.append(f"       {'Binding:':<18}NONE")
    return lines


def requested_text(row: JobRow) -> str:
    """A row's text in qstat -r: its line followed by its requests."""
    return _text([_job_line(row), *requested_lines(row)])


def qstat_jobs_requested(rows: Sequence[JobRow]) -> str:
    """qstat -r: each job line followed by its requests."""
    if not rows:
        return ""
    return listing(JOBS_HEADER, map(requested_text, rows))


def tasks_indent(rows: Sequence[JobRow]) -> int:
    """How far qstat -t indents the SLAVE lines: as far as the first row's queue column."""
    return len(row_start(rows[0]))


def tasks_text(row: JobRow, indent: int) -> str:
    """A row's text in qstat -t: its line and a SLAVE line per slave queue."""
    master = "MASTER " if is_running(row) else "       "
    lines = [f"{row_start(row)}{cut(row.queue, QUEUE_WIDTH)} {master}{task_column(row)}"]
    for slave in row.slave_queues if is_running(row) else []:
        queue = cut(str(slave.get("queue", "")), QUEUE_WIDTH)
        lines.append(f"{' ' * indent}{queue} SLAVE  {task_column(row)}")
    return _text(lines)


def qstat_jobs_tasks(rows: Sequence[JobRow]) -> str:
    """qstat -t: the master column instead of slots, one SLAVE line per slave queue."""
    if not rows:
        return ""
    indent = tasks_indent(rows)
    return listing(TASKS_HEADER, (tasks_text(row, indent) for row in rows))


EXT_NO_TICKETS = "   NA " * 6  # a finished job's ticket and share columns


def _usage_columns(row: JobRow) -> str:
    usage = row.usage or {}
    missing = "NA" if is_running(row) else ""
    cpu = format_cpu_days(usage["cpu"]) if "cpu" in usage else missing
    mem = f"{usage['mem']:.5f}" if "mem" in usage else f"{missing:<7}"
    io = f"{usage['io']:.5f}" if "io" in usage else f"{missing:<7}"
    return f"{cpu:<10} {mem} {io} "


def qstat_jobs_ext(rows: Sequence[JobRow]) -> str:
    """qstat -ext: tickets, project, department and usage columns (no time column)."""
    if not rows:
        return ""
    return listing(EXT_HEADER, map(ext_text, rows))


def ext_text(row: JobRow) -> str:
    """A row's text in qstat -ext."""
    shown = EXT_NO_TICKETS if is_finished(row) else _ticket_columns(row)
    return (f"{row_start(row, ext=True, with_time=False)}{_usage_columns(row)}{shown}"
            f"{cut(row.queue, QUEUE_WIDTH)} {row.slots:>5} {task_column(row)}\n")


TICKET_COLUMNS = ("tckts", "ovrts", "otckt", "ftckt", "stckt")


def ntckts(row: JobRow) -> float:
    """The normalised tickets of a row (its priority while the master sent no tickets)."""
    return row.tickets["ntckts"] if row.tickets else row.priority


def _ticket_columns(row: JobRow) -> str:
    """tckts ovrts otckt ftckt stckt share, as Grid Engine prints them (whole tickets)."""
    figures = row.tickets or {}
    counts = "".join(f"{int(figures.get(name, 0.0)):5d} " for name in TICKET_COLUMNS)
    return f"{counts}{figures.get('share', 0.0):<5.2f} "


# ----------------------------------------------------------------------------- qstat -f

QUEUES_HEADER = (f"{'queuename':<{QUEUE_WIDTH}} {'qtype':<5} {'resv/used/tot.':<14} "
                 f"{'load_avg':<8} {'arch':<13} states")
PENDING_BANNER = ["", "#" * 76, " - PENDING JOBS" * 5, "#" * 76]
FINISHED_BANNER = ["", "#" * 76, " --  FINISHED JOBS  -  FINISHED JOBS  -  FINISHED JOBS  -  FINISHED JOBS  --  ",
                   "#" * 76]


def queue_line(queue: QueueInstanceRow) -> str:
    """One queue instance of qstat -f."""
    slots = f"{queue.reserved}/{queue.used}/{queue.total} "
    load = f"{queue.load_avg:2.2f} " if queue.load_avg is not None else "-NA- "
    arch = f"{queue.arch} " if queue.arch else "-NA- "
    return (f"{cut(queue.name, QUEUE_WIDTH)} {cut(queue.qtype, 5)} {cut(slots, 14)} "
            f"{cut(load, 8)} {cut(arch, 13)} {queue.states}")


def _slots_in(row: JobRow, queue: str) -> int:
    """Slots a (parallel) task holds in one queue instance."""
    slaves = sum(int(s.get("slots", 0)) for s in row.slave_queues if s.get("queue") == queue)
    if queue != row.queue:
        return slaves
    elsewhere = sum(int(s.get("slots", 0)) for s in row.slave_queues if s.get("queue") != queue)
    return max(row.slots - elsewhere, 1)


def _full_job_line(row: JobRow, slots: int) -> str:
    return f"{row_start(row)}{slots:>5} {task_column(row)}"


def waiting_text(row: JobRow) -> str:
    """A pending or finished row's text in qstat -f."""
    return _full_job_line(row, row.slots) + "\n"


def qstat_full(queues: Sequence[QueueInstanceRow], rows: Sequence[JobRow], explain: str = "",
               pending_text: str = "") -> str:
    """qstat -f: every queue instance with the jobs running in it, then pending jobs;
    ``-explain E``: the reasons of an error state, each on a line of its own after a tab.
    ``pending_text``: the lines of more pending jobs (``waiting_text``: kept by the master),
    after those of ``rows``."""
    running = [r for r in rows if is_running(r)]
    pending = [r for r in rows if not is_running(r) and not is_finished(r)]
    finished = [r for r in rows if is_finished(r)]
    lines: list[str] = []
    if queues:
        lines.append(QUEUES_HEADER)
    for queue in queues:
        lines += ["-" * len(QUEUES_HEADER), queue_line(queue)]
        if "E" in explain:
            lines += [f"\t{message}" for message in queue.messages]
        for row in running:
            in_queue = row.queue == queue.name or any(s.get("queue") == queue.name
                                                      for s in row.slave_queues)
            if in_queue:
                lines.append(_full_job_line(row, _slots_in(row, queue.name)))
    parts = [_text(lines)]
    if pending or pending_text:
        parts += [_text(PENDING_BANNER), *map(waiting_text, pending), pending_text]
    if finished:
        parts += [_text(FINISHED_BANNER), *map(waiting_text, finished)]
    return "".join(parts)


# ----------------------------------------------------------------------------- qstat -j

LABEL_WIDTH = 28  # qstat -j's values start in this column
_SUBMIT_ENV = (("sge_o_home", ("HOME",)), ("sge_o_log_name", ("LOGNAME", "LOG_NAME")),
               ("sge_o_path", ("PATH",)), ("sge_o_shell", ("SHELL",)), ("sge_o_tz", ("TZ",)),
               ("sge_o_workdir", ("WORKDIR",)), ("sge_o_host", ("HOST",)))


def _field(label: str, value: object) -> str:
    return f"{label + ':':<{max(LABEL_WIDTH, len(label) + 2)}}{value}"


def path_list_text(paths: Sequence[str]) -> str:
    """-o/-e/-i lists as SGE shows them: host:file_host:path, NONE where not given."""
    shown = []
    for path in paths:
        host, _, rest = path.rpartition(":") if ":" in path else ("", "", path)
        shown.append(f"{host or 'NONE'}:NONE:{rest}")
    return ",".join(shown)


def env_list_text(env: Mapping[str, str]) -> str:
    """-v/-V variables; one without a value shows as NAME=NONE (SGE's TERM=NONE)."""
    return ",".join(f"{k}={v if v != '' else 'NONE'}" for k, v in env.items())


def mail_list_text(spec: JobSpec, owner: str) -> str:
    """-M list, else the owner at the submit host (SGE fills this in at submission)."""
    if spec.mail_list:
        return ",".join(spec.mail_list)
    return f"{owner}@{spec.submit_env.get('HOST', 'localhost')}"


def _spec_lines(spec: JobSpec, owner: str, verify: bool = False) -> list[str]:
    """The fields SGE takes from the submission, in qstat -j's order (``verify``: qsub
    -verify's listing, before the master has filled in the account)."""
    env = spec.submit_env
    lines = []
    for label, keys in _SUBMIT_ENV:
        value = next((env[k] for k in keys if k in env), None)
        if value is not None:
            lines.append(_field(label, value))
    if spec.start_time:
        lines.append(_field("execution_time", format_ctime(spec.start_time)))
    if not verify or spec.account != "sge":
        lines.append(_field("account", spec.account))
    if spec.checkpoint:
        lines.append(_field("checkpoint_object", spec.checkpoint))
    letters = checkpoint_letters(spec.checkpoint_when)
    if letters:  # as SGE: any -c letters (-c n alone too), none after qalter -ckpt
        lines.append(_field("checkpoint_attr", letters + "    "))
    if spec.checkpoint_interval:
        lines.append(_field("checkpoint_interval", f"{spec.checkpoint_interval} seconds"))
    if spec.cwd:
        lines.append(_field("cwd", spec.cwd))
    if spec.stderr_paths:
        lines.append(_field("stderr_path_list", path_list_text(spec.stderr_paths)))
    if spec.join:
        lines.append(_field("merge", "y"))
    if spec.hard_resources:
        lines.append(_field("hard resource_list", _pairs(spec.hard_resources)))
    if spec.soft_resources:
        lines.append(_field("soft resource_list", _pairs(spec.soft_resources)))
    mail = "".join(c for c in "abes" if c in spec.mail_options)
    if mail:
        lines.append(_field("mail_options", mail))
    lines.append(_field("mail_list", mail_list_text(spec, owner)))
    lines.append(_field("notify", "TRUE" if spec.notify else "FALSE"))
    lines.append(_field("job_name", spec.name))
    if spec.stdout_paths:
        lines.append(_field("stdout_path_list", path_list_text(spec.stdout_paths)))
    if spec.stdin_path:
        lines.append(_field("stdin_path_list", path_list_text([spec.stdin_path])))
    if spec.priority:
        lines.append(_field("priority", spec.priority))
    lines.append(_field("jobshare", spec.job_share))
    if spec.hard_queues:
        lines.append(_field("hard_queue_list", ",".join(spec.hard_queues)))
    if spec.soft_queues:
        lines.append(_field("soft_queue_list", ",".join(spec.soft_queues)))
    if spec.rerunnable is not None:
        lines.append(_field("restart", "y" if spec.rerunnable else "n"))
    if spec.shell:
        lines.append(_field("shell_list", f"NONE:{spec.shell}"))
    if verify:
        lines.append(_field("verify", "-verify"))
    lines.append(_field("env_list", env_list_text(spec.env)))
    if spec.args:
        lines.append(_field("job_args", ",".join(spec.args)))
    if spec.master_queues:
        lines.append(_field("master hard queue_list", ",".join(spec.master_queues)))
    lines.append(_field("script_file", spec.command or "STDIN"))
    if spec.context:
        lines.append(_field("context", ",".join(f"{k}={v}" for k, v in spec.context.items())))
    if spec.reserve:
        lines.append(_field("reserve", "y"))
    if spec.pe is not None:
        lines.append(f"parallel environment:  {spec.pe.name} range: {_pe_range(spec)}")
    if spec.hold_jids:
        lines.append(_field("jid_predecessor_list (req)", ",".join(spec.hold_jids)))
    return lines


CKPT_BITS = {"m": 1, "s": 2, "x": 4, "n": 8, "r": 16}  # JB_checkpoint_attr, as Grid Engine keeps it


def checkpoint_letters(when: str | None) -> str:
    """-c letters in Grid Engine's order (``xs`` shows as ``sx``)."""
    return "".join(c for c in CKPT_BITS if c in (when or ""))


def _pairs(values: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in values.items())


def _pe_range(spec: JobSpec) -> str:
    pe = spec.pe
    assert pe is not None
    return str(pe.min_slots) if pe.min_slots == pe.max_slots else f"{pe.min_slots}-{pe.max_slots}"


def usage_text(usage: Mapping[str, float]) -> str:
    """qstat -j's usage value: cpu, mem (GB s), io (GB), vmem and maxvmem (N/A when 0)."""
    vmem, maxvmem = usage.get("vmem", 0.0), usage.get("maxvmem", 0.0)
    return (f"cpu={format_cpu_clock(usage.get('cpu', 0.0))}, mem={usage.get('mem', 0.0):.5f} GB s, "
            f"io={usage.get('io', 0.0):.5f} GB, vmem={format_memory(vmem, 3) if vmem else 'N/A'}, "
            f"maxvmem={format_memory(maxvmem, 3) if maxvmem else 'N/A'}")


def job_detail_lines(detail: Any) -> list[str]:
    """One job of qstat -j (a qsys.records.JobDetail), without the ===== rule."""
    spec = JobSpec.from_wire(detail.spec)
    lines = [
        _field("job_number", detail.job_id),
        _field("exec_file", f"job_scripts/{detail.job_id}"),
        _field("submission_time", format_ctime(detail.submit_time)),
        _field("owner", detail.owner), _field("uid", detail.uid),
        _field("group", detail.group), _field("gid", detail.gid),
    ]
    lines += _spec_lines(spec, detail.owner)
    if detail.predecessors:
        lines.append(_field("jid_predecessor_list", ",".join(map(str, detail.predecessors))))
    if detail.ad_predecessors:
        lines.append(_field("ja_ad_predecessor_list", ",".join(map(str, detail.ad_predecessors))))
    if detail.successors:
        lines.append(_field("jid_successor_list", ",".join(map(str, detail.successors))))
    if detail.ad_successors:
        lines.append(_field("ja_ad_successor_list", ",".join(map(str, detail.ad_successors))))
    lines += _spec_tail_lines(spec, binding=True)
    lines += [f"{'usage':<7} {t.task_id:>7}:{' ' * 12}{usage_text(t.usage)}" for t in detail.tasks]
    lines += [f"{'binding':<7} {t.task_id:>7}:{' ' * 12}NONE" for t in detail.tasks]
    for task_id, granted in sorted(getattr(detail, "devices", {}).items(), key=lambda item: int(item[0])):
        lines.append(f"resource map {int(task_id):>4}:{' ' * 12}{', '.join(granted)}")
    lines += _ended_lines(detail)
    if detail.error_reason:
        first = spec.tasks.first if spec.tasks is not None else 1
        lines.append(f"error reason {first:>4}:          {detail.error_reason}")
    for i, message in enumerate(detail.scheduling_info):
        lines.append(_field("scheduling info", message) if i == 0 else " " * LABEL_WIDTH + message)
    return lines


def _spec_tail_lines(spec: JobSpec, binding: bool) -> list[str]:
    lines = []
    if spec.project:
        lines.append(_field("project", spec.project))
    if spec.tasks is not None:
        lines.append(_field("job-array tasks", str(spec.tasks)))
    if spec.override_tickets:
        lines.append(_field("oticket", spec.override_tickets))
    if binding:  # the master's choice: a would-be job has none yet
        lines.append(_field("binding", "NONE"))
    if spec.binary:
        lines.append(_field("job_type", "binary"))
    return lines


def verify_listing(spec: JobSpec, owner: str) -> str:
    """qsub -verify: the would-be job as qstat -j would show it, before the master has
    given it an id, an owner or a submission time (Grid Engine 8.1.9's listing)."""
    lines = [_field("job_number", "unassigned"), _field("owner", ""), _field("uid", 0),
             _field("group", ""), _field("gid", 0)]
    lines += _spec_lines(spec, owner, verify=True)
    lines += _spec_tail_lines(spec, binding=False)
    return _text(lines)


def _ended_lines(detail: Any) -> list[str]:
    """A finished job's exit status and end time (qsys: Grid Engine forgets them at once),
    one pair per group of tasks that ended alike ("exit_status 1-3:1:" for array tasks)."""
    lines = []
    for outcome in detail.outcomes:
        where = f" {outcome.tasks}" if outcome.tasks else ""
        status = "deleted" if outcome.deleted and outcome.start_time is None else outcome.exit_status
        lines.append(_field(f"exit_status{where}", status))
        if outcome.failed:
            lines.append(_field(f"failed{where}", outcome.failed))
        lines.append(_field(f"end_time{where}", format_ctime(outcome.end_time)))
    return lines


def qstat_job_details(details: Sequence[Any]) -> str:
    """qstat -j: each job after a rule of 62 "="."""
    lines: list[str] = []
    for detail in details:
        lines.append("=" * 62)
        lines += job_detail_lines(detail)
    return _text(lines)


def job_not_found_message(ids: Sequence[str | int]) -> str:
    """qstat -j's stderr when none of the asked jobs exists (note the trailing space)."""
    return "Following jobs do not exist: \n" + ", ".join(map(str, ids)) + "\n"

# ----------------------------------------------------------------------------- qhost

HOSTS_HEADER = (f"{'HOSTNAME':<23} {'ARCH':<13}{'NCPU':>4} {'NSOC':>4} {'NCOR':>4} {'NTHR':>4} "
                f"{'LOAD':>5} {'MEMTOT':>7} {'MEMUSE':>7} {'SWAPTO':>7} {'SWAPUS':>7}")
GLOBAL_HOST = ["global", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-"]


def host_values(host: HostRow) -> list[str]:
    """The qhost columns of one host as strings ("-" for what it does not report)."""
    known = host.load is not None
    return [
        host.name, host.arch or "-",
        str(host.ncpu) if host.ncpu else "-", str(host.nsoc) if host.nsoc else "-",
        str(host.ncor) if host.ncor else "-", str(host.nthr) if host.nthr else "-",
        f"{host.load:.2f}" if host.load is not None else "-",
        format_memory(host.mem_total) if host.mem_total else "-",
        format_memory(host.mem_used) if known else "-",
        format_memory(host.swap_total) if known else "-",
        format_memory(host.swap_used) if known else "-",
    ]


def _host_line(values: Sequence[str]) -> str:
    name, arch, ncpu, nsoc, ncor, nthr, load, mt, mu, st, su = values
    return (f"{cut(name, 23)} {cut(arch, 13)}{ncpu:>4} {nsoc:>4} {ncor:>4} {nthr:>4} "
            f"{load:>5} {mt:>7} {mu:>7} {st:>7} {su:>7}")


_MEMORY_VALUES = {"mem_free", "swap_free", "virtual_free", "mem_total", "swap_total",
                  "virtual_total", "mem_used", "swap_used", "virtual_used"}


def load_value_text(name: str, value: str) -> str:
    """qhost -F's value: memory as 23.332G, other numbers with 6 decimals, text as is."""
    try:
        number = float(value)
    except ValueError:
        return value
    if name in _MEMORY_VALUES:
        return format_memory(number, 3)
    return f"{number:.6f}"


_QHOST_JOBS_HEADER = ("   job-ID  prior   name       user         state submit/start at     "
                      "queue      master ja-task-ID ")


def host_places(host: str, jobs: Sequence[JobRow]) -> list[tuple[JobRow, str, str]]:
    """(row, queue instance, MASTER|SLAVE) of every task running on ``host``."""
    found = []
    for row in jobs:
        places = [(row.queue, "MASTER")] + [(str(s.get("queue", "")), "SLAVE") for s in row.slave_queues]
        found += [(row, queue, role) for queue, role in places if queue.endswith("@" + host)]
    return found


def attach_jobs(hosts: Sequence[HostRow], jobs: Sequence[JobRow]) -> None:
    """Fill each host's ``jobs`` with the tasks running there (qhost -j --json, qsys-restd)."""
    running = [row for row in jobs if is_running(row)]
    for host in hosts:
        host.jobs = [HostJob(row.job_id, row.tasks, row.name, row.owner, row.state, row.start_time, queue, role)
                     for row, queue, role in host_places(host.name, running)]


def _qhost_job_lines(host: str, jobs: Sequence[JobRow]) -> list[str]:
    """qhost -j: the tasks running on one host, master and slave queues alike."""
    lines: list[str] = []
    for row, queue, role in host_places(host, jobs):
        if not lines:
            lines += [_QHOST_JOBS_HEADER, "   " + "-" * (len(_QHOST_JOBS_HEADER) - 4)]
        # the queue instance's full name, cut to ten columns as SGE does
        lines.append(f"   {row_start(row)}{cut(queue, 10)} {role:<6} {task_column(row)}")
    return lines


def qhost_table(hosts: Sequence[HostRow], *, queues: bool = False, resources: bool = False,
                jobs: Sequence[JobRow] | None = None) -> str:
    """qhost, with -q (queues: the hosts' queue instances), -F (resources: their load
    values) and -j (jobs: the running rows to place under their hosts)."""
    lines = [HOSTS_HEADER, "-" * len(HOSTS_HEADER), _host_line(GLOBAL_HOST)]
    for host in hosts:
        lines.append(_host_line(host_values(host)))
        if queues:
            for q in host.queues:
                slots = f"{q.reserved}/{q.used}/{q.total}"
                lines.append(f"   {cut(q.name.split('@', 1)[0], 20)} {cut(q.qtype, 5)} "
                             f"{cut(slots, 14)}{q.states}")
        if resources:
            lines += [f"   hl:{k}={load_value_text(k, v)}" for k, v in host.load_values.items()]
            lines += [f"   hc:{k}={v}" for k, v in sorted(host.resources.items())]  # resource maps: free ids
        if jobs:
            lines += _qhost_job_lines(host.name, [r for r in jobs if is_running(r)])
    return _text(lines)


# ----------------------------------------------------------------------------- qsub


def job_id_text(job_id: int, tasks: TaskRange | None) -> str:
    """3 for a job, 5.1-3:1 for an array job (qsub -terse and the messages)."""
    return f"{job_id}.{tasks}" if tasks is not None else str(job_id)


def submitted_message(job_id: int, name: str, tasks: TaskRange | None) -> str:
    if tasks is not None:
        return f'Your job-array {job_id_text(job_id, tasks)} ("{name}") has been submitted\n'
    return f'Your job {job_id} ("{name}") has been submitted\n'


def terse_message(job_id: int, tasks: TaskRange | None) -> str:
    return job_id_text(job_id, tasks) + "\n"


def _signal_name(number: int) -> str:
    import signal

    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def _sync_fields(report: TaskEnd, aborted: bool = False) -> tuple[str, int, int, bool]:
    """(job id text, exit status, signal, never ran) from a WaitJobs report."""
    task = report.task_id
    ident = f"{report.job_id}.{task}" if report.is_array and task else str(report.job_id)
    status, signal = report.exit_status, report.signal
    never = aborted or (report.deleted and task == 0)
    never = never or (report.failed not in (0, 100) and not status and not signal)
    return ident, status, signal, never


def sync_exit_message(report: TaskEnd | int, exit_status: int = 0, *,
                      task_id: int | None = None, signal: int = 0, aborted: bool = False) -> str:
    """qsub -sync y's line for one finished job or task: from a WaitJobs report or from
    explicit values (task_id only for array tasks)."""
    if isinstance(report, int):
        report = TaskEnd(report, task_id or 0, exit_status, signal, is_array=task_id is not None)
    ident, status, sig, never = _sync_fields(report, aborted)
    if never:
        return f"Unable to run job {ident}.\n"
    if sig:
        return f"Job {ident} exited because of signal {_signal_name(sig)}.\n"
    return f"Job {ident} exited with exit code {status}.\n"


def sync_exit_code(report: TaskEnd) -> int:
    """qsub -sync y's own exit code for a task: the job's exit status; 1 when killed by a
    signal; 0 when it never ran (SGE's behaviour)."""
    _, status, sig, never = _sync_fields(report)
    if never:
        return 0
    return 1 if sig else status


__all__ = [
    "format_datetime", "format_ctime", "format_iso", "format_memory",
    "qstat_jobs", "qstat_jobs_requested", "qstat_jobs_tasks", "qstat_jobs_ext", "qstat_full",
    "qstat_job_details", "job_not_found_message", "qhost_table", "submitted_message",
    "terse_message", "sync_exit_message", "sync_exit_code",
]
