"""qsys-restd against a real personal cluster: every route, its errors, and /metrics."""

from __future__ import annotations

import os
import pwd
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from tests.clusterlib import Cluster, wait_until
from tests.restlib import Restd

ROUTES = {
    "/api/v1/whoami": {"get"}, "/api/v1/tokens": {"post"}, "/api/v1/summary": {"get"},
    "/api/v1/jobs": {"get", "post"}, "/api/v1/jobs/{job_id}": {"get", "delete", "patch"},
    "/api/v1/jobs/{job_id}/tasks": {"get"}, "/api/v1/jobs/{job_id}/hold": {"post"},
    "/api/v1/jobs/{job_id}/release": {"post"}, "/api/v1/hosts": {"get"}, "/api/v1/hosts/{name}": {"get"},
    "/api/v1/queues": {"get"}, "/api/v1/queues/{target}/{action}": {"post"}, "/api/v1/accounting": {"get"},
    "/api/v1/accounting/totals": {"get"}, "/api/v1/config/{kind}/names": {"get"},
    "/api/v1/config/{kind}": {"get", "post", "put", "patch", "delete"}, "/metrics": {"get"},
}


@pytest.fixture
def restd(cluster: Cluster) -> Iterator[Restd]:
    with Restd(cluster) as r:
        yield r


@pytest.fixture
def token(restd: Restd) -> str:
    return restd.token()


def _submit(restd: Restd, token: str, **body: object) -> int:
    reply = restd.tcp("POST", "/api/v1/jobs", token, body)
    assert reply.status == 201, reply
    return int(reply.json["job_id"])


def _finished(restd: Restd, token: str, job_id: int) -> dict:
    def ended() -> dict | None:
        job = restd.tcp("GET", f"/api/v1/jobs/{job_id}", token).json
        return job if job.get("finished") else None

    return wait_until(ended, 30, f"job {job_id} to end")


def test_openapi_lists_every_route(restd: Restd) -> None:
    doc = restd.tcp("GET", "/openapi.json").json
    assert {path: set(ops) for path, ops in doc["paths"].items()} == ROUTES
    assert doc["info"]["title"] == "qsys-restd"


def test_submit_show_and_account_a_script_and_a_command(restd: Restd, token: str) -> None:
    reply = restd.tcp("POST", "/api/v1/jobs", token, {
        "script": "#!/bin/sh\n#$ -N scripted\necho from the script $1\n", "script_name": "s.sh", "args": ["A"],
        "options": ["-j", "y", "-o", f"{restd.cluster.root}/$JOB_NAME.$JOB_ID.out"]})
    assert reply.status == 201, reply
    scripted = reply.json["job_id"]
    assert reply.json["message"] == f'Your job {scripted} ("scripted") has been submitted'
    root = str(restd.cluster.root)
    command = _submit(restd, token, command=["/bin/sh", "-c", "echo $JOB_NAME"], options=["-N", "cmd", "-cwd"],
                      cwd=root)
    doc = restd.tcp("GET", "/openapi.json").json
    page_schema = doc["paths"]["/api/v1/jobs/{job_id}"]["get"]["responses"]["200"]["content"]["application/json"][
        "schema"]
    for job_id in (scripted, command):
        job = _finished(restd, token, job_id)
        assert job["state"] == "finished" and job["accounting"][0]["exit_status"] == 0
        assert job["accounting"][0]["owner"] == "root"
        assert [o["exit_status"] for o in job["outcomes"]] == [0] and job["end_time"] > 0  # qstat -s z's facts
        jsonschema.Draft202012Validator({**page_schema, "components": doc["components"]}).validate(job)
        host = job["accounting"][0]["hostname"]
        assert [(f["task_id"], f["host"]) for f in job["outputs"]["files"]] == [(1, host)], "where it ran"
    files = {job_id: restd.tcp("GET", f"/api/v1/jobs/{job_id}", token).json["outputs"]["files"][0]
             for job_id in (scripted, command)}
    assert files[scripted]["stdout"] == files[scripted]["stderr"] == f"{root}/scripted.{scripted}.out"
    assert (files[command]["stdout"], files[command]["stderr"]) == (f"{root}/cmd.o{command}", f"{root}/cmd.e{command}")
    with open(files[scripted]["stdout"]) as out:
        assert out.read() == "from the script A\n"
    with open(files[command]["stdout"]) as out:
        assert out.read() == "cmd\n"
    records = restd.tcp("GET", f"/api/v1/accounting?job={command}", token).json
    assert [r["job_name"] for r in records] == ["cmd"]
    totals = restd.tcp("GET", "/api/v1/accounting/totals?by=owner", token).json
    assert [g["owner"] for g in totals["groups"]] == ["root"] and totals["total"]["ru_wallclock"] >= 0


def test_list_filters_show_tasks_hold_release_alter_delete(restd: Restd, token: str) -> None:
    held = _submit(restd, token, command=["/bin/sleep", "60"], options=["-N", "waiter", "-h", "-t", "1-4"])
    running = _submit(restd, token, command=["/bin/sleep", "60"], options=["-N", "runner"])
    wait_until(lambda: restd.tcp("GET", "/api/v1/jobs?state=running", token).json, 30, "a running task")
    by_state = {s: [r["job_id"] for r in restd.tcp("GET", f"/api/v1/jobs?state={s}", token).json]
                for s in ("held", "running", "pending")}
    assert by_state == {"held": [held], "running": [running], "pending": []}
    assert [r["job_id"] for r in restd.tcp("GET", "/api/v1/jobs?queue=all.q", token).json] == [running]
    assert restd.tcp("GET", "/api/v1/jobs?queue=other.q", token).json == []
    assert {r["job_id"] for r in restd.tcp("GET", "/api/v1/jobs?user=me", token).json} == {held, running}
    assert restd.tcp("GET", "/api/v1/jobs?user=nosuchuser", token).json == []

    detail = restd.tcp("GET", f"/api/v1/jobs/{held}", token).json
    assert detail["spec"]["name"] == "waiter" and detail["pending_tasks"] == "1-4:1"
    home = pwd.getpwuid(0).pw_dir
    assert detail["outputs"] == {"stdout_paths": [], "stderr_paths": [], "joined": False, "files": [
        {"task_id": None, "host": "", "stdout": f"{home}/waiter.o{held}.$TASK_ID",
         "stderr": f"{home}/waiter.e{held}.$TASK_ID"}]}
    assert "Job is in hold state" in detail["scheduling_info"]
    assert restd.tcp("GET", f"/api/v1/jobs/{held}/tasks", token).json["pending"] == "1-4:1"

    alter = restd.tcp("PATCH", f"/api/v1/jobs/{held}", token, {"options": ["-N", "renamed", "-l", "h_rt=100"]})
    assert alter.json == {"lines": [f"modified job name of job {held}", f"modified hard resource list of job {held}"],
                          "exit": 0}
    spec = restd.tcp("GET", f"/api/v1/jobs/{held}", token).json["spec"]
    assert spec["name"] == "renamed" and spec["hard_resources"] == {"h_rt": "100"}

    gone = restd.tcp("DELETE", f"/api/v1/jobs/{held}?tasks=4", token)
    assert gone.json == {"lines": [f"root has deleted job-array task {held}.4"], "exit": 0}
    released = restd.tcp("POST", f"/api/v1/jobs/{held}/release", token, {})
    assert released.json == {"lines": [f"modified hold of job {held}"], "exit": 0}
    tasks = wait_until(lambda: restd.tcp("GET", f"/api/v1/jobs/{held}/tasks", token).json["running"], 30,
                       "the tasks to run")
    assert [t["task_id"] for t in tasks] == [1, 2, 3]  # 4 slots: the one running job and three tasks
    assert restd.tcp("POST", f"/api/v1/jobs/{running}/hold", token, {}).json == {
        "lines": [f"modified hold of job {running}"], "exit": 0}
    for job_id in (held, running):
        assert restd.tcp("DELETE", f"/api/v1/jobs/{job_id}", token).status == 200
    wait_until(lambda: not restd.tcp("GET", "/api/v1/jobs", token).json, 30, "the jobs to go")


def test_hosts_queues_summary_config(restd: Restd, token: str) -> None:
    job_id = _submit(restd, token, command=["/bin/sleep", "60"], options=["-N", "onhost"])
    wait_until(lambda: restd.tcp("GET", "/api/v1/jobs?state=running", token).json, 30, "the job to run")
    hosts = restd.tcp("GET", "/api/v1/hosts", token).json
    assert [(h["name"], h["state"]) for h in hosts] == [("node1", "up")]
    assert [j["job_id"] for j in hosts[0]["jobs"]] == [job_id] and hosts[0]["load"] is not None
    assert restd.tcp("GET", "/api/v1/hosts/node1", token).json["name"] == "node1"
    assert restd.tcp("GET", "/api/v1/hosts/nowhere", token).status == 404
    queues = restd.tcp("GET", "/api/v1/queues", token).json
    assert [(q["name"], q["used"], q["total"]) for q in queues["instances"]] == [("all.q@node1", 1, 4)]
    assert [q["name"] for q in queues["cluster_queues"]] == ["all.q"]

    def summary_shows_it() -> dict | None:
        s = restd.tcp("GET", "/api/v1/summary", token).json
        return s if s["jobs"]["running"] == 1 else None

    summary = wait_until(summary_shows_it, 10, "the summary to count the job")
    assert summary["hosts"] == {"up": ["node1"], "down": [], "unknown": []}
    assert summary["queues"] == [{"name": "all.q", "used": 1, "free": 3, "total": 4, "unavailable": 0,
                                  "load": summary["queues"][0]["load"]}]
    assert summary["dispatch_rate_per_minute"] > 0

    disabled = restd.tcp("POST", "/api/v1/queues/all.q@node1/disable", token)
    assert disabled.status == 200 and "disabled" in disabled.json["lines"][0], disabled
    assert restd.tcp("GET", "/api/v1/queues", token).json["instances"][0]["states"] == "d"
    assert restd.tcp("POST", "/api/v1/queues/all.q@node1/enable", token).status == 200
    assert restd.tcp("POST", "/api/v1/queues/all.q/explode", token).status == 400

    assert restd.tcp("GET", "/api/v1/config/queue/names", token).json == {"names": ["all.q"]}
    shown = restd.tcp("GET", "/api/v1/config/queue?name=all.q", token).json
    assert shown["text"].startswith("qname")
    changed = restd.tcp("PATCH", "/api/v1/config/queue", token,
                        {"mode": "mattr", "attr": "slots", "value": "3", "objects": ["all.q"]})
    assert changed.status == 200, changed
    assert restd.tcp("GET", "/api/v1/config/queue?name=all.q", token).json["data"]["slots"] == "3"
    assert restd.tcp("DELETE", f"/api/v1/jobs/{job_id}", token).status == 200


def test_metrics(restd: Restd, token: str) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    job_id = _submit(restd, token, command=["/bin/true"], options=["-N", "quick"])
    _finished(restd, token, job_id)
    _submit(restd, token, command=["/bin/true"], options=["-h"])

    def scraped() -> str | None:
        text = restd.tcp("GET", "/metrics", token).body.decode()
        return text if 'qsys_jobs{queue="",state="held"} 1.0' in text else None

    text = wait_until(scraped, 10, "the held job in /metrics")
    for line in ('qsys_queue_slots{host="node1",queue="all.q"} 4.0',
                 'qsys_queue_slots_used{host="node1",queue="all.q"} 0.0',
                 'qsys_hosts{state="up"} 1.0', 'qsys_hosts{state="down"} 0.0',
                 f"qsys_jobs_submitted_total {job_id + 1}.0", 'qsys_accounting_tasks_total{owner="root"} 1.0'):
        assert line in text.splitlines(), line
    assert 'qsys_exec_host_load{host="node1",name="load_avg"}' in text
    assert "qsys_accounting_cpu_seconds_total{owner=\"root\"}" in text
    assert "# TYPE qsys_accounting_wallclock_seconds_total counter" in text

    # the master's own figures: every one has counted, and the whole page is valid text format
    families = {family.name: family for family in text_string_to_metric_families(text)}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}
    for histogram in ("qsys_scheduling_pass_seconds", "qsys_dispatch_latency_seconds", "qsys_start_latency_seconds",
                      "qsys_store_commit_seconds"):
        assert families[histogram].type == "histogram", histogram
        assert samples[(f"{histogram}_count", ())] >= 1, histogram
        assert samples[(f"{histogram}_bucket", (("le", "+Inf"),))] == samples[(f"{histogram}_count", ())]
        assert samples[(f"{histogram}_sum", ())] > 0, histogram
    assert samples[("qsys_submissions_total", ())] == 2
    assert samples[("qsys_dispatches_total", ())] == 1 and samples[("qsys_finishes_total", ())] == 1
    assert samples[("qsys_requests_total", (("type", "submit"),))] == 2
    assert samples[("qsys_requests_total", (("type", "metrics_status"),))] >= 1
    assert samples[("qsys_master_start_time_seconds", ())] > 0
    assert all(samples[("qsys_scheduling_phase_seconds_total", (("phase", p),))] > 0
               for p in ("snapshot", "decide", "apply"))


def test_bad_requests_are_4xx_json_and_change_nothing(restd: Restd, token: str) -> None:
    cases = [
        ({"options": ["-@", "/etc/shadow"], "command": ["/bin/true"]}, 400, 'qsub: invalid option argument "-@"'),
        ({"options": ["-l", "bogus=1"], "command": ["/bin/true"]}, 400, 'Unable to run job: unknown resource "bogus"'),
        ({"options": ["-sync", "y"], "command": ["/bin/true"]}, 400, 'qsub: invalid option argument "-sync"'),
        ({"options": ["/etc/passwd"]}, 400, "give a binary command"),
        ({}, 400, "no job given"),
        ({"script": "echo", "command": ["/bin/true"]}, 400, "not both"),
        ({"options": "-N x"}, 422, "invalid request: body.options"),
        ({"command": ["/bin/true"], "cwd": "relative"}, 400, "must be an absolute path"),
    ]
    for body, status, message in cases:
        reply = restd.tcp("POST", "/api/v1/jobs", token, body)
        assert (reply.status, reply.headers["content-type"]) == (status, "application/json"), (body, reply)
        assert message in reply.json["error"], (body, reply)
    assert restd.tcp("POST", "/api/v1/jobs", token, raw=b"{not json",
                     headers={"Content-Type": "application/json"}).status == 422
    assert restd.tcp("GET", "/api/v1/jobs?state=sleeping", token).status == 400
    missing = restd.tcp("DELETE", "/api/v1/jobs/99999", token)
    assert (missing.status, missing.json["error"]) == (404, 'denied: job "99999" does not exist')
    assert restd.tcp("GET", "/api/v1/jobs/99999", token).status == 404
    assert restd.tcp("GET", "/api/v1/jobs/notanumber", token).status == 422
    assert restd.tcp("PATCH", "/api/v1/jobs/99999", token, {"options": ["-t", "1-3"]}).status == 400
    assert restd.tcp("GET", "/api/v1/config/nokind/names", token).status == 400
    assert restd.tcp("POST", "/api/v1/jobs/1/hold", token, {"type": "x"}).status == 422
    assert restd.tcp("GET", "/api/v1/jobs", token).json == []  # nothing was submitted
    assert restd.tcp("GET", "/api/v1/accounting", token).status in (200, 404)


def _tcp_listeners(pid: int) -> list[str]:
    """Local addresses (hex ip:port, as /proc/net/tcp{,6} write them) of the TCP sockets
    process ``pid`` listens on."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:
                found.append(fields[1])
    return found


def test_without_a_port_restd_listens_on_its_unix_socket_only(cluster: Cluster) -> None:
    with Restd(cluster, restd_port="", restd_bind="") as restd:
        assert restd.proc is not None
        assert restd.address == "" and _tcp_listeners(restd.proc.pid) == []
        assert restd.unix("GET", "/api/v1/whoami").json["via"] == "unix"
    with Restd(cluster, restd_bind="") as restd:  # a port, no address: loopback
        assert restd.proc is not None
        port = int(restd.address.rpartition(":")[2])
        assert _tcp_listeners(restd.proc.pid) == [f"0100007F:{port:04X}"]
        assert restd.tcp("GET", "/api/v1/whoami").status == 401, "TCP always needs a token"
