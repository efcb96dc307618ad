"""Grid Engine 8.1.9's XML output (qstat -xml, qstat -f -xml, qstat -j -xml, qhost -xml).

Built as text, not with an XML library, because tools compare the layout too: SGE's
header line, its double space before ``xmlns``, two-space indentation (one and three for
qhost) and empty elements written as an open and a close tag.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from qsys.cli.formats import (
    CKPT_BITS,
    format_iso,
    host_places,
    host_values,
    is_running,
    load_value_text,
    ntckts,
)
from qsys.grammar.values import parse_task_range
from qsys.jobspec import JobSpec
from qsys.records import HostRow, JobDetail, JobRow, QueueInstanceRow, TaskDetail, TaskOutcome

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs a command milliseconds at run time
    from typing import Any

XML_DECL = "<?xml version='1.0'?>"
_SCHEMAS = "http://arc.liv.ac.uk/repos/darcs/sge/source/dist/util/resources/schemas"
QSTAT_OPEN = f'<job_info  xmlns:xsd="{_SCHEMAS}/qstat/qstat.xsd">'
DETAIL_OPEN = f'<detailed_job_info  xmlns:xsd="{_SCHEMAS}/qstat/detailed_job_info.xsd">'
QHOST_OPEN = f'<qhost xmlns:xsd="{_SCHEMAS}/qhost/qhost.xsd">'

# JB_type bits and JAT_status values as SGE stores them
_TYPE_BITS = {"binary": 0x40, "array": 0x80, "now": 0x01}
_QSH_TYPES = {"qrsh": 0x08, "qlogin": 0x04, "qrlogin": 0x10}
_RUNNING, _TRANSFERRING, _FINISHED = 0x80, 0x200, 0x10000
_MAIL_BITS = {"a": 0x40000, "b": 0x100000, "e": 0x80000, "s": 0x200000}
# no urgency or ticket policy yet: every job sits where SGE puts equal jobs, the midpoint
_NEUTRAL = 0.5


def escape(text: object) -> str:
    """Character data and attribute values (both quote styles)."""
    value = str(text)
    if "&" not in value and "<" not in value and ">" not in value and '"' not in value and "'" not in value:
        return value  # most values (numbers, names, states): 40,000 of them in an -xml of 5,000 jobs
    return (value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&apos;"))


class _Doc:
    """Lines of an XML document, indented two spaces per level."""

    def __init__(self, depth: int = 0) -> None:
        self.lines: list[str] = [] if depth else [XML_DECL]  # (a part of a document: no declaration)
        self.depth = depth

    def _pad(self) -> str:
        return "  " * self.depth

    def open(self, tag: str, attrs: str = "") -> None:
        self.lines.append(f"{self._pad()}<{tag}{attrs}>")
        self.depth += 1

    def close(self, tag: str) -> None:
        self.depth -= 1
        self.lines.append(f"{self._pad()}</{tag}>")

    def leaf(self, tag: str, value: object) -> None:
        self.lines.append(f"{self._pad()}<{tag}>{escape(value)}</{tag}>")

    def leaves(self, pairs: Iterable[tuple[str, object]]) -> None:
        for tag, value in pairs:
            self.leaf(tag, value)

    def raw(self, line: str) -> None:
        self.lines.append(line)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


# ----------------------------------------------------------------------------- qstat -xml


def _job_list(doc: _Doc, row: JobRow, with_queue: bool, forms: frozenset[str] = frozenset()) -> None:
    """One job_list element; ``forms`` adds what -ext, -r and -t add (qstat.xsd order)."""
    running = is_running(row)
    ext = "ext" in forms
    doc.open("job_list", f' state="{"running" if running else "zombie" if row.state == "z" else "pending"}"')
    doc.leaves([("JB_job_number", row.job_id), ("JAT_prio", f"{row.priority:.5f}")])
    if ext:
        doc.leaf("JAT_ntix", f"{ntckts(row):.5f}")
    doc.leaves([("JB_name", row.name), ("JB_owner", row.owner)])
    if ext:
        if row.project:
            doc.leaf("JB_project", row.project)
        doc.leaf("JB_department", row.department)
    doc.leaf("state", row.state)
    if running and row.start_time:
        doc.leaf("JAT_start_time", format_iso(row.start_time))
    else:
        doc.leaf("JB_submission_time", format_iso(row.submit_time))
    if ext:
        if running and row.usage is not None:
            doc.leaves([("cpu_usage", f"{row.usage.get('cpu', 0.0):.5f}"),
                        ("mem_usage", f"{row.usage.get('mem', 0.0):.5f}"),
                        ("io_usage", f"{row.usage.get('io', 0.0):.5f}")])
        figures = row.tickets or {}
        doc.leaves([(tag, int(figures.get(name, 0.0))) for tag, name in (
            ("tickets", "tckts"), ("JB_override_tickets", "ovrts"), ("JB_jobshare", "jobshare"),
            ("otickets", "otckt"), ("ftickets", "ftckt"), ("stickets", "stckt"))])
        doc.leaf("JAT_share", f"{figures.get('share', 0.0):.5f}")
    if with_queue:
        doc.leaf("queue_name", row.queue)
    if "tasks" in forms and running:
        doc.leaf("master", "MASTER")
    doc.leaf("slots", row.slots)
    if row.is_array and row.tasks:
        doc.leaf("tasks", row.tasks)
    if "requested" in forms:
        _requests_of(doc, row)
    doc.close("job_list")


def _requests_of(doc: _Doc, row: JobRow) -> None:
    """What -r adds: PE requested and granted, resource and queue requests, predecessors."""
    if row.requested_pe:
        name, _, span = row.requested_pe.partition(" ")
        doc.raw(f'{doc._pad()}<requested_PE name="{escape(name)}">{escape(span)}</requested_PE>')
    if row.granted_pe:
        name, _, count = row.granted_pe.partition(" ")
        doc.raw(f'{doc._pad()}<granted_PE name="{escape(name)}">{escape(count)}</granted_PE>')
    for tag, values in (("hard_request", row.hard_resources), ("soft_request", row.soft_resources)):
        for key, value in values.items():
            doc.raw(f'{doc._pad()}<{tag} name="{escape(key)}" resource_contribution="0.000000">'
                    f"{escape(value)}</{tag}>")
    doc.leaves([("hard_req_queue", q) for q in row.hard_queues])
    doc.leaves([("soft_req_queue", q) for q in row.soft_queues])
    doc.leaves([("predecessor_jobs_req", j) for j in row.hold_jids])


def job_list_text(row: JobRow, with_queue: bool, depth: int, forms: frozenset[str] = frozenset()) -> str:
    """A row's job_list element at ``depth``, its lines each ending in a newline."""
    doc = _Doc(depth)
    _job_list(doc, row, with_queue, forms)
    return doc.text()


def _pending_block(rows: Sequence[JobRow], with_queue: bool, forms: frozenset[str], pending_text: str) -> str:
    waiting = "".join(job_list_text(row, with_queue, 2, forms) for row in rows if not is_running(row))
    return f"  <job_info>\n{waiting}{pending_text}  </job_info>\n</job_info>\n"


def qstat_xml(rows: Sequence[JobRow], forms: frozenset[str] = frozenset(), pending_text: str = "") -> str:
    """qstat -xml: running tasks under queue_info, waiting jobs under job_info; ``forms``
    holds "ext", "requested" and "tasks" for -ext, -r and -t. ``pending_text``: the
    job_list elements of more waiting jobs (``job_list_text``: kept by the master), after
    those of ``rows``."""
    running = "".join(job_list_text(row, True, 2, forms) for row in rows if is_running(row))
    return (f"{XML_DECL}\n{QSTAT_OPEN}\n  <queue_info>\n{running}  </queue_info>\n"
            + _pending_block(rows, True, forms, pending_text))


def qstat_full_xml(queues: Sequence[QueueInstanceRow], rows: Sequence[JobRow],
                   forms: frozenset[str] = frozenset(), pending_text: str = "") -> str:
    """qstat -f -xml: each Queue-List with its running jobs, then the waiting jobs
    (``pending_text``: as qstat_xml's)."""
    doc = _Doc()
    doc.raw(QSTAT_OPEN)
    doc.depth = 1
    doc.open("queue_info")
    for queue in queues:
        doc.open("Queue-List")
        doc.leaves([("name", queue.name), ("qtype", queue.qtype), ("slots_used", queue.used),
                    ("slots_resv", queue.reserved), ("slots_total", queue.total)])
        if queue.load_avg is not None:
            doc.leaf("load_avg", f"{queue.load_avg:.5f}")
        doc.leaf("arch", queue.arch)
        if queue.states:
            doc.leaf("state", queue.states)
        for row in rows:
            if is_running(row) and (row.queue == queue.name
                                    or any(s.get("queue") == queue.name for s in row.slave_queues)):
                _job_list(doc, row, False, forms)
        doc.close("Queue-List")
    doc.close("queue_info")
    return doc.text() + _pending_block(rows, False, forms, pending_text)


# ----------------------------------------------------------------------------- qstat -j -xml

_PREFIX = "__SGE_PREFIX__O_"
_FIRST_ENV = (("HOME", ("HOME",)), ("LOGNAME", ("LOGNAME", "LOG_NAME")), ("PATH", ("PATH",)),
              ("SHELL", ("SHELL",)), ("TZ", ("TZ",)))
_LAST_ENV = (("HOST", ("HOST",)), ("WORKDIR", ("WORKDIR",)))


def _env_entries(spec: JobSpec) -> list[tuple[str, str]]:
    """JB_env_list in SGE's order: the submit environment, the job's own -v list, then the
    submit host and directory."""
    def pick(table: Sequence[tuple[str, tuple[str, ...]]]) -> list[tuple[str, str]]:
        found = []
        for name, keys in table:
            value = next((spec.submit_env[k] for k in keys if k in spec.submit_env), None)
            if value is not None:
                found.append((_PREFIX + name, value))
        return found

    return pick(_FIRST_ENV) + list(spec.env.items()) + pick(_LAST_ENV)


def _sublist(doc: _Doc, outer: str, inner: str, items: Sequence[Sequence[tuple[str, object]]]) -> None:
    """A list-valued field: an outer element holding one inner element per item."""
    if not items:
        return
    doc.open(outer)
    for fields in items:
        doc.open(inner)
        doc.leaves([(tag, value) for tag, value in fields if value is not None])
        doc.close(inner)
    doc.close(outer)


def _paths(paths: Sequence[str]) -> list[list[tuple[str, object]]]:
    items: list[list[tuple[str, object]]] = []
    for path in paths:
        host, _, rest = path.rpartition(":") if ":" in path else ("", "", path)
        items.append([("PN_path", rest), ("PN_host", host or None), ("PN_file_staging", "false")])
    return items


def _requests(values: Mapping[str, str]) -> list[list[tuple[str, object]]]:
    return [[("CE_name", k), ("CE_stringval", v)] for k, v in values.items()]


def _queues(names: Sequence[str]) -> list[list[tuple[str, object]]]:
    return [[("QR_name", n)] for n in names]


def _job_type(spec: JobSpec) -> int:
    bits = _QSH_TYPES.get(spec.job_type, 0)
    bits |= _TYPE_BITS["binary"] if spec.binary else 0
    bits |= _TYPE_BITS["array"] if spec.tasks is not None else 0
    return bits | (_TYPE_BITS["now"] if spec.now else 0)


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _detail_element(doc: _Doc, detail: JobDetail) -> None:
    spec = JobSpec.from_wire(detail.spec)
    doc.open("element")
    doc.leaves([("JB_job_number", detail.job_id), ("JB_ar", 0),
                ("JB_exec_file", f"job_scripts/{detail.job_id}"),
                ("JB_submission_time", int(detail.submit_time)), ("JB_owner", detail.owner),
                ("JB_uid", detail.uid), ("JB_group", detail.group), ("JB_gid", detail.gid),
                ("JB_account", spec.account), ("JB_merge_stderr", _bool(spec.join))])
    mails = spec.mail_list or [f"{detail.owner}@{spec.submit_env.get('HOST', 'localhost')}"]
    _sublist(doc, "JB_mail_list", "element",
             [[("MR_user", m.partition("@")[0]), ("MR_host", m.partition("@")[2] or None)] for m in mails])
    if spec.project:
        doc.leaf("JB_project", spec.project)
    doc.leaves([("JB_notify", _bool(spec.notify)), ("JB_job_name", spec.name)])
    _sublist(doc, "JB_stdout_path_list", "path_list", _paths(spec.stdout_paths))
    doc.leaf("JB_jobshare", 0)
    _sublist(doc, "JB_hard_resource_list", "qstat_l_requests", _requests(spec.hard_resources))
    _sublist(doc, "JB_soft_resource_list", "qstat_l_requests", _requests(spec.soft_resources))
    _sublist(doc, "JB_hard_queue_list", "destin_ident_list", _queues(spec.hard_queues))
    _sublist(doc, "JB_soft_queue_list", "destin_ident_list", _queues(spec.soft_queues))
    if spec.shell:
        _sublist(doc, "JB_shell_list", "path_list", [[("PN_path", spec.shell)]])
    _sublist(doc, "JB_env_list", "job_sublist",
             [[("VA_variable", k), ("VA_value", v if v != "" else None)] for k, v in _env_entries(spec)])
    _sublist(doc, "JB_job_args", "element", [[("ST_name", a)] for a in spec.args])
    doc.leaf("JB_script_file", spec.command or "STDIN")
    _ja_tasks(doc, detail.tasks)
    _finished_tasks(doc, detail.outcomes)
    if spec.cwd:
        doc.leaf("JB_cwd", spec.cwd)
    _sublist(doc, "JB_stderr_path_list", "path_list", _paths(spec.stderr_paths))
    _sublist(doc, "JB_jid_predecessor_list", "job_predecessors",
             [[("JRE_job_number", j)] for j in detail.predecessors])
    _sublist(doc, "JB_ja_ad_predecessor_list", "job_predecessors_ad",
             [[("JRE_job_number", j)] for j in detail.ad_predecessors])
    _sublist(doc, "JB_jid_request_list", "job_predecessors", [[("JRE_job_name", j)] for j in spec.hold_jids])
    _sublist(doc, "JB_ja_ad_request_list", "job_predecessors_ad",
             [[("JRE_job_name", j)] for j in spec.hold_jids_ad])
    _sublist(doc, "JB_jid_successor_list", "job_predecessors", [[("JRE_job_number", j)] for j in detail.successors])
    _sublist(doc, "JB_ja_ad_successor_list", "ulong_sublist", [[("JRE_job_number", j)] for j in detail.ad_successors])
    mail_bits = sum(bit for letter, bit in _MAIL_BITS.items() if letter in spec.mail_options)
    doc.leaves([("JB_deadline", 0), ("JB_execution_time", int(spec.start_time or 0))])
    if spec.checkpoint:
        doc.leaf("JB_checkpoint_name", spec.checkpoint)
    ckpt_bits = sum(bit for letter, bit in CKPT_BITS.items() if letter in (spec.checkpoint_when or ""))
    doc.leaves([("JB_checkpoint_attr", ckpt_bits),
                ("JB_checkpoint_interval", spec.checkpoint_interval), ("JB_reserve", "true" if spec.reserve else "false"),
                ("JB_mail_options", mail_bits)])
    _sublist(doc, "JB_stdin_path_list", "path_list", _paths([spec.stdin_path] if spec.stdin_path else []))
    restart = 0 if spec.rerunnable is None else (1 if spec.rerunnable else 2)
    doc.leaves([("JB_priority", 1024 + spec.priority), ("JB_restart", restart), ("JB_verify", 0)])
    _sublist(doc, "JB_master_hard_queue_list", "destin_ident_list", _queues(spec.master_queues))
    doc.leaf("JB_script_size", 0)
    if spec.pe is not None:
        doc.leaf("JB_pe", spec.pe.name)
        _sublist(doc, "JB_pe_range", "ranges",
                 [[("RN_min", spec.pe.min_slots), ("RN_max", spec.pe.max_slots), ("RN_step", 1)]])
    doc.leaves([("JB_verify_suitable_queues", 0), ("JB_soft_wallclock_gmt", 0),
                ("JB_hard_wallclock_gmt", 0), ("JB_override_tickets", spec.override_tickets), ("JB_version", 0)])
    tasks = spec.tasks
    first, last, step = (tasks.first, tasks.last, tasks.step) if tasks is not None else (1, 1, 1)
    _sublist(doc, "JB_ja_structure", "task_id_range", [[("RN_min", first), ("RN_max", last), ("RN_step", step)]])
    doc.leaf("JB_type", _job_type(spec))
    _sublist(doc, "JB_binding", "element", [[
        ("BN_strategy", "no_job_binding"), ("BN_type", 0), ("BN_parameter_n", 0),
        ("BN_parameter_socket_offset", 0), ("BN_parameter_core_offset", 0),
        ("BN_parameter_striding_step_size", 0), ("BN_parameter_explicit", "no_explicit_binding")]])
    doc.leaves([("JB_ja_task_concurrency", spec.task_concurrency), ("JB_nurg", f"{_NEUTRAL:.6f}")])
    doc.close("element")


USAGE_ORDER = ("cpu", "mem", "io", "iow", "vmem", "maxvmem")  # JAT_scaled_usage_list as SGE prints it


def _ja_tasks(doc: _Doc, tasks: Sequence[TaskDetail]) -> None:
    """JB_ja_tasks: each running task, with its usage so far (JAT_scaled_usage_list)."""
    if not tasks:
        return
    doc.open("JB_ja_tasks")
    for t in tasks:
        doc.open("ulong_sublist")
        doc.leaves([("JAT_status", _TRANSFERRING if t.state == "t" else _RUNNING), ("JAT_task_number", t.task_id)])
        if any(t.usage.values()):  # nothing before the first report (as SGE prints it)
            doc.open("JAT_scaled_usage_list")
            for name in USAGE_ORDER:
                doc.open("scaled")
                doc.leaves([("UA_name", name), ("UA_value", f"{float(t.usage.get(name, 0.0)):.6f}")])
                doc.close("scaled")
            doc.close("JAT_scaled_usage_list")
        if t.start_time:
            doc.leaf("JAT_start_time", int(t.start_time))
        doc.leaf("JAT_ntix", f"{_NEUTRAL:.6f}")
        doc.close("ulong_sublist")
    doc.close("JB_ja_tasks")


def _outcome_ids(outcome: TaskOutcome) -> Iterable[int]:
    """The task ids of an outcome ("" is the task of a job that is not an array)."""
    for part in outcome.tasks.split(",") if outcome.tasks else ["1"]:
        first, last, step = parse_task_range(part)
        yield from range(first, last + 1, step)


def _finished_tasks(doc: _Doc, outcomes: Sequence[TaskOutcome]) -> None:
    """JB_ja_tasks of a finished job: each task as SGE holds it between its end and its
    removal (JAT_status JFINISHED), its exit status and times in JAT_scaled_usage_list, where
    SGE's execd puts them in the final usage (names and order of its reaper). One element per
    task, as SGE lists them (the text form groups tasks that ended alike). A task deleted
    before it ran has no usage: only its end."""
    if not outcomes:
        return
    doc.open("JB_ja_tasks")
    for outcome in outcomes:
        usage: list[tuple[str, float]] = [("end_time", outcome.end_time)]
        if outcome.start_time is not None:
            usage = [("exit_status", outcome.exit_status), ("signal", outcome.signal),
                     ("start_time", outcome.start_time), *usage]
        for task_id in _outcome_ids(outcome):
            doc.open("ulong_sublist")
            doc.leaves([("JAT_status", _FINISHED), ("JAT_task_number", task_id)])
            doc.open("JAT_scaled_usage_list")
            for name, value in usage:
                doc.open("scaled")
                doc.leaves([("UA_name", name), ("UA_value", f"{float(int(value)):.6f}")])
                doc.close("scaled")
            doc.close("JAT_scaled_usage_list")
            if outcome.start_time is not None:
                doc.leaf("JAT_start_time", int(outcome.start_time))
            doc.close("ulong_sublist")
    doc.close("JB_ja_tasks")


def _messages(doc: _Doc, details: Sequence[JobDetail]) -> None:
    """The scheduler's messages about these jobs (SGE's SME_message_list)."""
    doc.open("messages")
    doc.open("element")
    messages: dict[str, list[int]] = {}
    for detail in details:
        for text in detail.scheduling_info:
            messages.setdefault(text, []).append(detail.job_id)
    if messages:
        doc.open("SME_message_list")
        for text, job_ids in messages.items():
            doc.open("element")
            _sublist(doc, "MES_job_number_list", "ulong_sublist", [[("ULNG_value", j)] for j in job_ids])
            doc.leaf("MES_message", text)
            doc.close("element")
        doc.close("SME_message_list")
    doc.close("element")
    doc.close("messages")


def qstat_job_details_xml(details: Sequence[Any]) -> str:
    """qstat -j ... -xml for the jobs found (JobDetail records)."""
    doc = _Doc()
    doc.raw(DETAIL_OPEN)
    doc.depth = 1
    doc.open("djob_info")
    for detail in details:
        _detail_element(doc, detail)
    doc.close("djob_info")
    _messages(doc, details)
    doc.raw("</detailed_job_info>")
    return doc.text()


def unknown_jobs_xml(names: Sequence[str]) -> str:
    """qstat -j ... -xml when none of the asked jobs exists (Grid Engine's, with its blank)."""
    items = "".join(f"    <ST_name>{escape(name)}</ST_name>\n" for name in names)
    return f"<?xml version='1.0'?>\n<unknown_jobs >\n{items}</unknown_jobs>"


# ----------------------------------------------------------------------------- qhost -xml

_HOST_VALUES = ("arch_string", "num_proc", "m_socket", "m_core", "m_thread", "load_avg",
                "mem_total", "mem_used", "swap_total", "swap_used")


def _host(lines: list[str], name: str, values: Sequence[str]) -> None:
    lines.append(f" <host name='{escape(name)}'>")
    lines += [f"   <hostvalue name='{tag}'>{escape(value)}</hostvalue>"
              for tag, value in zip(_HOST_VALUES, values, strict=True)]
    lines.append(" </host>")


def _qhost_queue(lines: list[str], queue: QueueInstanceRow) -> None:
    cqueue = escape(queue.name.split("@", 1)[0])
    lines.append(f" <queue name='{cqueue}'>")
    values = (("qtype_string", queue.qtype), ("slots_used", queue.used), ("slots", queue.total),
              ("slots_resv", queue.reserved), ("state_string", queue.states))
    lines += [f"   <queuevalue qname='{cqueue}' name='{tag}'>{escape(value)}</queuevalue>" for tag, value in values]
    lines.append(" </queue>")


def _qhost_job(lines: list[str], row: JobRow, queue: str, role: str) -> None:
    """One task on the host, with SGE's job values (the priority quoted, as SGE prints it)."""
    jid = escape(row.job_id)
    values: list[tuple[str, object]] = [
        ("qinstance_name", queue), ("job_name", row.name), ("job_owner", row.owner), ("job_state", row.state),
        ("start_time", int(row.start_time or row.submit_time)), ("queue_name", queue), ("pe_master", role),
    ]
    if row.is_array and row.tasks:
        values.append(("taskid", row.tasks))
    lines.append(f" <job name='{jid}'>")
    lines.append(f"   <jobvalue jobid='{jid}' name='priority'>'{row.priority:f}'</jobvalue>")
    lines += [f"   <jobvalue jobid='{jid}' name='{tag}'>{escape(value)}</jobvalue>" for tag, value in values]
    lines.append(" </job>")


def qhost_xml(hosts: Sequence[HostRow], *, queues: bool = False, resources: bool = False,
              jobs: Sequence[JobRow] | None = None) -> str:
    """qhost -xml: the global pseudo host, then each exec host's values as qhost shows them;
    with -F its load values, with -q its queue instances, with -j the tasks running there."""
    lines = [XML_DECL, QHOST_OPEN]
    _host(lines, "global", ["-"] * len(_HOST_VALUES))
    for host in hosts:
        _host(lines, host.name, host_values(host)[1:])
        close = lines.pop()
        if resources:
            lines += [f"   <resourcevalue name='{escape(k)}' dominance='hl'>{escape(load_value_text(k, v))}"
                      "</resourcevalue>" for k, v in host.load_values.items()]
            lines += [f"   <resourcevalue name='{escape(k)}' dominance='hc'>{escape(v)}</resourcevalue>"
                      for k, v in sorted(host.resources.items())]  # resource maps: the free ids
        if queues:
            for queue in host.queues:
                _qhost_queue(lines, queue)
        for row, place, role in host_places(host.name, [r for r in jobs or [] if is_running(r)]):
            _qhost_job(lines, row, place, role)
        lines.append(close)
    lines.append("</qhost>")
    return "\n".join(lines) + "\n"
