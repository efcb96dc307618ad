"""The REST routes under ``/api/v1``: jobs, array tasks, hosts, queues, accounting, the
cluster summary, configuration and tokens. JSON in and out; errors are JSON with the
command's message (``qsys.restd.app`` maps them to status codes).

Every route names its caller through ``caller`` (read-only routes) or ``actor`` (routes that
change something) and passes the caller's uid to the master adapter: the master decides.
"""

from __future__ import annotations

import fnmatch
import os
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from qsys import acct, auth, output_paths
from qsys.cli.formats import attach_jobs
from qsys.errors import (
    AuthenticationError,
    ConnectionFailed,
    NotFound,
    NotSchedulable,
    PermissionDenied,
    QsysError,
    UsageError,
)
from qsys.protocol import Lines
from qsys.records import JobDetail, JobRow, json_form
from qsys.restd import jobspecs
from qsys.restd.identity import PEER_STATE, Caller, bearer_token, identify
from qsys.restd.openapi import array_of, ref, returns

FINISHED_STATE = "z"  # qstat -s z: a job the master remembers after its end
STATES = ("pending", "held", "error", "transferring", "running", "suspended", "deleting")
MAX_TOKEN_TTL = 366 * 86400


class Refused(Exception):
    """A command's reply lines said no (exit 1): the lines, and the status they call for."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines

    @property
    def status(self) -> int:
        text = "\n".join(self.lines)
        if any(word in text for word in ("privileges", "no permission", "must be manager", "must be operator",
                                         "no admin host", "no submit host")):
            return 403
        if "does not exist" in text or "not found" in text:
            return 404
        return 400


def lines_or_refusal(reply: Lines) -> dict[str, Any]:
    """The command's lines (as its --json prints them), or Refused when it would have exited 1."""
    if reply.exit != 0:
        raise Refused(list(reply.lines))
    return dict(json_form(reply))


# ----------------------------------------------------------------------------- identities


def _identify(request: Request, read_only: bool) -> Caller:
    ctx = request.app.state.restd
    peer = request.scope.get("state", {}).get(PEER_STATE)
    unix = bool(peer) and peer.get("transport") == "unix"
    token = None if unix else bearer_token(request.headers, request.cookies)
    return identify(peer, token, ctx.key, monitoring_open=ctx.settings.monitoring_open, read_only=read_only)


def caller(request: Request) -> Caller:
    """Who asks a read-only question (open monitoring may answer it without a token)."""
    return _identify(request, read_only=True)


def actor(request: Request) -> Caller:
    """Who asks for a change: always a kernel-named or token-named user."""
    return _identify(request, read_only=False)


Reader = Annotated[Caller, Depends(caller)]
Actor = Annotated[Caller, Depends(actor)]


def _ctx(request: Request) -> Any:
    return request.app.state.restd


router = APIRouter(prefix="/api/v1")


# ----------------------------------------------------------------------------- who, tokens


@router.get("/whoami", tags=["identity"])
def whoami(who: Reader) -> dict[str, Any]:
    """The identity restd presents to the master for this request."""
    return {"uid": who.uid, "user": who.user, "via": who.via, "expires": who.expires}


class TokenRequest(BaseModel):
    ttl: int = Field(86400, ge=60, le=MAX_TOKEN_TTL, description="seconds the token is valid")


@router.post("/tokens", tags=["identity"], status_code=201)
def issue_token(body: TokenRequest, who: Actor, request: Request) -> dict[str, Any]:
    """A token for the caller (``qsys token user`` asks here). Only over the Unix socket, where
    the kernel names the caller: a token cannot mint its own successors."""
    if who.via != "unix":
        raise PermissionDenied("tokens are issued over restd's Unix socket only (qsys token user)")
    token = auth.sign_user_token(_ctx(request).key, who.uid, body.ttl)
    _uid, user, expires = auth.verify_user_token(_ctx(request).key, token)
    return {"token": token, "user": user, "expires": expires}


# ----------------------------------------------------------------------------- summary


@router.get("/summary", tags=["cluster"])
def summary(who: Reader, request: Request) -> dict[str, Any]:
    """Hosts up/down/unknown, slots per cluster queue, pending/running counts, dispatch rate."""
    return dict(_ctx(request).view.summary())


# ----------------------------------------------------------------------------- jobs


def _split(text: str | None) -> list[str]:
    return [item for item in (text or "").split(",") if item]


def _queue_matches(row: JobRow, patterns: list[str]) -> bool:
    queue = row.queue
    return bool(queue) and any(fnmatch.fnmatchcase(queue, p) or fnmatch.fnmatchcase(queue.partition("@")[0], p)
                               for p in patterns)


@router.get("/jobs", tags=["jobs"], **returns("JobRow", many=True))
def list_jobs(
    who: Reader, request: Request,
    user: Annotated[str | None, Query(description="owners, comma separated; '*' everyone (default); "
                                                  "'me' the caller")] = None,
    state: Annotated[str | None, Query(description=f"state families, comma separated: {', '.join(STATES)}")] = None,
    queue: Annotated[str | None, Query(description="cluster queues or queue instances (wildcards)")] = None,
) -> list[dict[str, Any]]:
    """Jobs as qstat lists them: pending jobs (array tasks compacted) and running tasks."""
    users = [who.user if u == "me" else u for u in _split(user)] or ["*"]
    states = _split(state)
    unknown = [s for s in states if s not in STATES]
    if unknown:
        raise UsageError(f'unknown job state "{unknown[0]}" (one of {", ".join(STATES)})')
    rows = _ctx(request).master.jobs(who.uid, users)
    if states:
        rows = [r for r in rows if r.state_family in states]
    if queue:
        rows = [r for r in rows if _queue_matches(r, _split(queue))]
    return list(json_form(rows))


class SubmitRequest(BaseModel):
    """A job as qsub would take it: qsub's option words plus the script's text or a command."""

    options: list[str] = Field(default_factory=list, description="qsub options, e.g. [\"-N\", \"x\", \"-l\", "
                               "\"h_rt=60\"] (not -@, -sync, -verify, -terse)")
    script: str | None = Field(None, description="the job script's text (#$ directives apply)")
    script_name: str = Field("", description="the script's name (the job name unless -N)")
    args: list[str] = Field(default_factory=list, description="arguments of the script")
    command: list[str] = Field(default_factory=list, description="a command and its arguments, run as -b y")
    cwd: str | None = Field(None, description="directory -cwd means (absolute; default: the caller's home)")
    environment: dict[str, str] = Field(default_factory=dict,
                                        description="the variables -V and -v NAME take values from")


@router.post("/jobs", tags=["jobs"], **returns("Submitted", status=201))
def submit_job(body: SubmitRequest, who: Actor, request: Request) -> dict[str, Any]:
    """Submit a job as the caller; answers qsub's message and the job number."""
    ctx = _ctx(request)
    spec = jobspecs.build_submission(who.uid, body.options, body.script, body.command, body.script_name,
                                     body.args, body.cwd, body.environment, ctx.cell)
    try:
        result = ctx.master.submit(who.uid, spec)
    except (NotSchedulable, ConnectionFailed, AuthenticationError):
        raise
    except QsysError as exc:  # qsub's wording for a refused job
        raise type(exc)(f"Unable to run job: {exc.message}") from None
    return dict(json_form(result))


def _accounting(request: Request, job_id: int) -> list[dict[str, Any]]:
    try:
        return acct.select(acct.read_records(_ctx(request).cell.accounting_file),
                           acct.Selection(job=str(job_id)))
    except NotFound:
        return []


def output_files(detail: JobDetail, home: str,
                 ended: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Where the job's stdout and stderr go: the -o/-e entries as given, and the files Grid
    Engine's rules (``qsys.output_paths``) make of them for each running task on its host, or,
    before the job runs, for any host and task (``$HOSTNAME``, ``$TASK_ID`` left as they are);
    for a job that has ended, for each task its accounting records (``ended``) name, on the
    host it ran on (so the finished page still says where the output went)."""
    spec = detail.spec
    stdout, stderr = list(spec.get("stdout_paths") or []), list(spec.get("stderr_paths") or [])
    joined = bool(spec.get("join"))
    is_array = spec.get("tasks") is not None
    places: list[tuple[int | None, str]]
    if ended is not None:  # a record's task_number is 0 for a job that is not an array (task 1)
        places = list(dict.fromkeys((int(r["task_number"]) or 1, str(r["hostname"])) for r in ended))
    else:
        places = [(t.task_id, t.queue.partition("@")[2]) for t in detail.tasks]
        if detail.pending_tasks or not places:
            places.insert(0, (None, output_paths.UNKNOWN_HOST))
    files = []
    for task_id, host in places:
        ctx = output_paths.PathContext(detail.job_id, task_id, is_array, str(spec.get("name") or ""), home,
                                       detail.owner, host, str(spec.get("cwd") or home),
                                       is_dir=_directory_check(detail.uid))
        plan = output_paths.plan(stdout, stderr, spec.get("stdin_path"), joined, ctx)
        files.append({"task_id": task_id, "host": "" if task_id is None and not detail.tasks else host,
                      "stdout": plan.stdout, "stderr": plan.stderr})
    return {"stdout_paths": stdout, "stderr_paths": stderr, "joined": joined, "files": files}


def _directory_check(owner_uid: int) -> Any:
    """Whether a path is a directory, asked of the file system only where restd runs as the
    job's owner (a personal cluster); otherwise a path that ends in "/" (restd may be root and
    must not tell what other users' directories hold)."""
    if os.geteuid() == owner_uid:
        return lambda path: path.endswith("/") or os.path.isdir(path)
    return lambda path: path.endswith("/")


def _home(user: str) -> str:
    import pwd

    try:
        return pwd.getpwnam(user).pw_dir
    except KeyError:
        return "~" + user


def _detail_and_records(request: Request, who: Caller, job_id: int) -> tuple[JobDetail | None,
                                                                           list[dict[str, Any]]]:
    """(qstat -j's facts, None once the job has ended; its accounting records); NotFound in
    qstat's words when neither the master nor the accounting file knows it."""
    try:
        detail: JobDetail | None = _ctx(request).master.job(who.uid, str(job_id))
    except NotFound:
        detail = None
    # read after the detail: a task's accounting line is written before its job ends, so a
    # job that the detail shows ended has all its lines (read first, an end between the two
    # reads showed a finished job without its records)
    records = _accounting(request, job_id)
    if detail is None and not records:
        raise NotFound(f"Following jobs do not exist: \n{job_id}")
    return detail, records


def _running(detail: JobDetail | None) -> JobDetail | None:
    """The facts of a job that has not ended (None for one in the master's finished jobs list,
    qstat -s z: its accounting lines were written before it went there)."""
    return None if detail is None or detail.state == FINISHED_STATE else detail


OUTPUTS = {"type": "object", "properties": {
    "stdout_paths": {"type": "array", "items": {"type": "string"}},
    "stderr_paths": {"type": "array", "items": {"type": "string"}},
    "joined": {"type": "boolean"},
    "files": {"type": "array", "items": {"type": "object", "properties": {
        "task_id": {"type": ["integer", "null"]}, "host": {"type": "string"},
        "stdout": {"type": "string"}, "stderr": {"type": "string"}}}}}}

JOB_PAGE = {"description": "qstat -j's facts (JobDetail) while the master knows the job, with its output files "
                           "and accounting records; once it has ended, the accounting records and a few facts (how its "
                           "tasks ended and the files they wrote, while the master keeps it in its finished jobs list).",
            "anyOf": [{"allOf": [ref("JobDetail"), {
                "type": "object", "required": ["finished", "outputs", "accounting"], "properties": {
                    "finished": {"const": False}, "outputs": OUTPUTS,
                    "accounting": array_of("AccountingRecord")}}]},
                {"type": "object", "required": ["job_id", "state", "finished", "owner", "name", "accounting"],
                 "properties": {"job_id": {"type": "integer"}, "state": {"const": "finished"},
                                "finished": {"const": True}, "owner": {"type": "string"},
                                "name": {"type": "string"},
                                "end_time": {"type": ["number", "null"]}, "outcomes": array_of("TaskOutcome"),
                                "outputs": OUTPUTS, "accounting": array_of("AccountingRecord")}}]}


@router.get("/jobs/{job_id}", tags=["jobs"], **returns(JOB_PAGE))
def show_job(job_id: int, who: Reader, request: Request) -> dict[str, Any]:
    """One job: qstat -j's facts while the master knows it, its output files, and the
    accounting records of its finished tasks (all there is once it has ended)."""
    known, records = _detail_and_records(request, who, job_id)
    detail = _running(known)
    if detail is None:
        owner, name = (known.owner, str(known.spec.get("name") or "")) if known else (
            records[0]["owner"], records[0]["job_name"])
        page = {"job_id": job_id, "state": "finished", "finished": True, "owner": owner, "name": name,
                "accounting": records}
        if known is not None:  # the master's finished jobs list: how its tasks ended, where they wrote
            page.update(end_time=known.end_time, outcomes=json_form(known.outcomes),
                        outputs=output_files(known, _home(known.owner), records))
        return page
    return {**json_form(detail), "finished": False, "outputs": output_files(detail, _home(detail.owner)),
            "accounting": records}


JOB_TASKS = {"type": "object", "required": ["job_id", "pending", "running", "finished"], "properties": {
    "job_id": {"type": "integer"}, "pending": {"type": "string", "description": "pending tasks, compacted"},
    "running": array_of("TaskDetail"),
    "finished": {"type": "array", "items": {"type": "object", "properties": {
        "task_id": {"type": "integer"}, "exit_status": {"type": "integer"}, "failed": {"type": "integer"}}}}}}


@router.get("/jobs/{job_id}/tasks", tags=["jobs"], **returns(JOB_TASKS))
def job_tasks(job_id: int, who: Reader, request: Request) -> dict[str, Any]:
    """An array job's tasks: pending (compacted range), running, finished (from accounting)."""
    known, records = _detail_and_records(request, who, job_id)
    detail = _running(known)
    finished = [{"task_id": r["task_number"], "exit_status": r["exit_status"], "failed": r["failed"]}
                for r in records]
    return {"job_id": job_id, "pending": detail.pending_tasks if detail else "",
            "running": json_form(detail.tasks) if detail else [], "finished": finished}


def _target(job_id: int, tasks: str | None) -> str:
    if tasks is None:
        return str(job_id)
    from qsys.grammar.values import parse_task_range

    first, last, step = parse_task_range(tasks)
    return f"{job_id}.{first}-{last}:{step}"


@router.delete("/jobs/{job_id}", tags=["jobs"], **returns("Lines"))
def delete_job(job_id: int, who: Actor, request: Request,
               tasks: Annotated[str | None, Query(description="array tasks n[-m[:s]]")] = None,
               force: bool = False) -> dict[str, Any]:
    """qdel [-f] job[.tasks]: qdel's lines."""
    return lines_or_refusal(_ctx(request).master.job_action(who.uid, "delete", [_target(job_id, tasks)], force))


class HoldRequest(BaseModel):
    type: str = Field("u", pattern="^[uos]$", description="hold type: u (user), o (operator), s (system)")
    tasks: str | None = Field(None, description="array tasks n[-m[:s]]")


@router.post("/jobs/{job_id}/hold", tags=["jobs"], **returns("Lines"))
def hold_job(job_id: int, body: HoldRequest, who: Actor, request: Request) -> dict[str, Any]:
    """qhold -h TYPE job[.tasks]."""
    target = [_target(job_id, body.tasks)]
    return lines_or_refusal(_ctx(request).master.job_action(who.uid, "hold", target, hold_type=body.type))


@router.post("/jobs/{job_id}/release", tags=["jobs"], **returns("Lines"))
def release_job(job_id: int, body: HoldRequest, who: Actor, request: Request) -> dict[str, Any]:
    """qrls -h TYPE job[.tasks]."""
    target = [_target(job_id, body.tasks)]
    return lines_or_refusal(_ctx(request).master.job_action(who.uid, "release", target, hold_type=body.type))


class AlterRequest(BaseModel):
    options: list[str] = Field(description="qalter options (not -u), e.g. [\"-N\", \"new\", \"-l\", \"h_rt=120\"]")
    verify: str = Field("", pattern="^[ewnv]?$", description="qalter -w level")
    cwd: str | None = Field(None, description="directory -cwd means (default: the caller's home)")
    environment: dict[str, str] = Field(default_factory=dict, description="values for -V and -v NAME")


@router.patch("/jobs/{job_id}", tags=["jobs"], **returns("Lines"))
def alter_job(job_id: int, body: AlterRequest, who: Actor, request: Request) -> dict[str, Any]:
    """qalter OPTIONS job: qalter's lines."""
    changes, verify = jobspecs.alter_changes(who.uid, body.options, body.cwd, body.environment)
    return lines_or_refusal(_ctx(request).master.alter(who.uid, [str(job_id)], changes, body.verify or verify))


# ----------------------------------------------------------------------------- hosts, queues


@router.get("/hosts", tags=["hosts"], **returns("HostRow", many=True))
def list_hosts(who: Reader, request: Request) -> list[dict[str, Any]]:
    """Exec hosts as qhost shows them, each with the tasks running there (qhost -j)."""
    master = _ctx(request).master
    hosts = master.hosts(who.uid)
    attach_jobs(hosts, master.jobs(who.uid, ["*"]))
    return list(json_form(hosts))


@router.get("/hosts/{name}", tags=["hosts"], **returns("HostRow"))
def show_host(name: str, who: Reader, request: Request) -> dict[str, Any]:
    """One exec host as qhost -j shows it (404 for a name that is not an exec host)."""
    for host in list_hosts(who, request):
        if host["name"] == name:
            return host
    raise NotFound(f'error: host "{name}" is not an exec host')


QUEUES = {"type": "object", "required": ["cluster_queues", "instances"], "properties": {
    "cluster_queues": array_of("ClusterQueueRow"),
    "instances": array_of("QueueInstanceRow")}}


@router.get("/queues", tags=["queues"], **returns(QUEUES))
def list_queues(who: Reader, request: Request) -> dict[str, Any]:
    """Cluster queues (qstat -g c) and their instances (qstat -f: used/total slots, states)."""
    master = _ctx(request).master
    return {"cluster_queues": json_form(master.cluster_queues(who.uid)),
            "instances": json_form(master.queue_instances(who.uid))}


QUEUE_ACTIONS = ("disable", "enable", "suspend", "unsuspend", "clear")


@router.post("/queues/{target}/{action}", tags=["queues"], **returns("Lines"))
def queue_action(target: str, action: str, who: Actor, request: Request, force: bool = False) -> dict[str, Any]:
    """qmod -d/-e/-s/-us/-cq on queue instances (wildcards): qmod's lines."""
    if action not in QUEUE_ACTIONS:
        raise UsageError(f'unknown queue action "{action}" (one of {", ".join(QUEUE_ACTIONS)})')
    return lines_or_refusal(_ctx(request).master.queue_action(who.uid, action, [target], force))


# ----------------------------------------------------------------------------- accounting


@router.get("/accounting", tags=["accounting"], **returns("AccountingRecord", many=True))
def accounting(
    who: Reader, request: Request,
    owner: str | None = None, group: str | None = None, queue: str | None = None, host: str | None = None,
    project: str | None = None, account: str | None = None,
    job: Annotated[str | None, Query(description="job number, name or pattern (qacct -j)")] = None,
    limit: Annotated[int, Query(ge=1, le=100000, description="the last N records")] = 1000,
) -> list[dict[str, Any]]:
    """Accounting records of finished tasks, selected as qacct selects them (file order)."""
    sel = acct.Selection(owner=owner, group=group, queue=queue, host=host, project=project,
                         account=account, job=job)
    records = acct.select(acct.read_records(_ctx(request).cell.accounting_file), sel)
    return records[-limit:]


@router.get("/accounting/totals", tags=["accounting"], **returns("AccountingSummary"))
def accounting_totals(
    who: Reader, request: Request,
    by: Annotated[str, Query(description="grouping columns, comma separated: owner, group, queue, host, "
                                         "project, department, pe, slots")] = "owner",
    owner: str | None = None,
) -> dict[str, Any]:
    """qacct's summary: usage summed per group and in total."""
    columns = _split(by)
    known = [key for key, _, _ in acct.GROUP_COLUMNS]
    if any(c not in known for c in columns):
        raise UsageError(f'unknown grouping "{by}" (from {", ".join(known)})')
    records = acct.select(acct.read_records(_ctx(request).cell.accounting_file), acct.Selection(owner=owner))
    return acct.summary(records, columns)


# ----------------------------------------------------------------------------- configuration


class ConfChange(BaseModel):
    name: str = Field("", description="object name ('' for the one-of-a-kind: sconf, complex, global conf)")
    text: str = Field("", description="the object in Grid Engine's text format (add, modify)")


class AttrChange(BaseModel):
    mode: str = Field(pattern="^(mattr|rattr|aattr|dattr)$")
    attr: str
    value: str
    objects: list[str]


@router.get("/config/{kind}/names", tags=["configuration"], **returns("Names"))
def config_names(kind: str, who: Reader, request: Request) -> dict[str, Any]:
    """qconf -s*l: the names of the objects of a kind."""
    return dict(json_form(_ctx(request).master.conf_names(who.uid, kind)))


@router.get("/config/{kind}", tags=["configuration"], **returns("ConfText"))
def config_show(kind: str, who: Reader, request: Request, name: str = "") -> dict[str, Any]:
    """qconf -s*: one object as text and as attributes."""
    return dict(json_form(_ctx(request).master.conf_show(who.uid, kind, name)))


@router.post("/config/{kind}", tags=["configuration"], **returns("Lines", status=201))
def config_add(kind: str, body: ConfChange, who: Actor, request: Request) -> dict[str, Any]:
    """qconf -A*: add an object (managers only; the master checks)."""
    return lines_or_refusal(_ctx(request).master.conf_change(who.uid, "add", kind, body.name, body.text))


@router.put("/config/{kind}", tags=["configuration"], **returns("Lines"))
def config_modify(kind: str, body: ConfChange, who: Actor, request: Request) -> dict[str, Any]:
    """qconf -M*: replace an object (managers only)."""
    return lines_or_refusal(_ctx(request).master.conf_change(who.uid, "modify", kind, body.name, body.text))


@router.patch("/config/{kind}", tags=["configuration"], **returns("Lines"))
def config_attr(kind: str, body: AttrChange, who: Actor, request: Request) -> dict[str, Any]:
    """qconf -mattr/-rattr/-aattr/-dattr (managers only)."""
    reply = _ctx(request).master.conf_change(who.uid, "attr", kind, "", "", mode=body.mode, attr=body.attr,
                                      value=body.value, objects=body.objects)
    return lines_or_refusal(reply)


@router.delete("/config/{kind}", tags=["configuration"], **returns("Lines"))
def config_delete(kind: str, who: Actor, request: Request, name: str = "") -> dict[str, Any]:
    """qconf -d*: delete an object (managers only)."""
    return lines_or_refusal(_ctx(request).master.conf_change(who.uid, "delete", kind, name))


def refusal_response(exc: Refused) -> JSONResponse:
    return JSONResponse({"error": "\n".join(exc.lines), "lines": exc.lines}, status_code=exc.status)

