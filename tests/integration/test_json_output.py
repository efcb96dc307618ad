"""--json, --csv and -xml of every command that prints, on a real cluster: each document is
valid against its published schema (qsys.schemas), has exactly the fields the schema names,
and is what qsys-restd answers for the same object."""

from __future__ import annotations

import csv
import getpass
import io
import json
import xml.etree.ElementTree as ET
from typing import Any

import jsonschema

from qsys import schemas
from tests.clusterlib import Cluster, wait_until
from tests.restlib import Restd


def _valid(document: Any, name: str) -> Any:
    """``document`` checked against the schema of ``name`` (also its nested objects)."""
    schema = {"$ref": f"{schemas.JSON_SCHEMA_REFS}{name}", **schemas.document()}
    jsonschema.Draft202012Validator(schema).validate(document)
    if name in schemas.OBJECTS:  # no field beyond the schema
        for item in document if isinstance(document, list) else [document]:
            assert set(item) <= set(schemas.components()[name]["properties"]), name
    return document


def _json(cluster: Cluster, *argv: str, code: int = 0) -> Any:
    proc = cluster.run(argv[0], "--json", *argv[1:])
    assert proc.returncode == code, (argv, proc.stdout, proc.stderr)
    return json.loads(proc.stdout)


def test_every_command_prints_its_objects_as_the_schemas_say(cluster: Cluster) -> None:
    submitted = _valid(_json(cluster, "qsub", "-N", "sleeper", "-b", "y", "/bin/sleep", "300"), "Submitted")
    job_id = submitted["job_id"]
    assert submitted["message"] == f'Your job {job_id} ("sleeper") has been submitted' and submitted["ends"] == []
    array = _valid(_json(cluster, "qsub", "-h", "-t", "1-3", "-b", "y", "/bin/true"), "Submitted")
    assert array["tasks"] == [1, 3, 1] and array["message"].startswith(f"Your job-array {array['job_id']}.1-3:1")
    wait_until(lambda: any(r.job_id == job_id and r.state == "r" for r in cluster.jobs()), 30, "the job to run")

    rows = [_valid(row, "JobRow") for row in _json(cluster, "qstat")]
    assert {(r["job_id"], r["state_family"]) for r in rows} == {(job_id, "running"), (array["job_id"], "held")}
    full = _valid(_json(cluster, "qstat", "-f"), "QueueRows")
    assert [q["name"] for q in full["queues"]] == ["all.q@node1"]
    details = _valid(_json(cluster, "qstat", "-j", str(job_id)), "JobDetailRows")
    assert details["details"][0]["spec"]["name"] == "sleeper" and details["missing"] == []
    summary = [_valid(row, "ClusterQueueRow") for row in _json(cluster, "qstat", "-g", "c")]
    assert [(q["name"], q["used"]) for q in summary] == [("all.q", 1)]

    hosts = [_valid(host, "HostRow") for host in _json(cluster, "qhost", "-j")]
    assert [(h["name"], h["state"]) for h in hosts] == [("node1", "up")]
    assert [(j["job_id"], j["role"]) for j in hosts[0]["jobs"]] == [(job_id, "MASTER")]
    assert _json(cluster, "qhost")[0]["jobs"] == []  # without -j the tasks are not asked for

    assert _valid(_json(cluster, "qselect", "-q", "all.q"), "Names") == {"names": ["all.q@node1"]}
    shown = _valid(_json(cluster, "qconf", "-sq", "all.q"), "ConfText")
    assert shown["text"].startswith("qname") and shown["data"]["qname"] == "all.q"
    assert _valid(_json(cluster, "qconf", "-sql"), "Names") == {"names": ["all.q"]}
    both = _json(cluster, "qconf", "-sql", "-sel")
    assert [_valid(b, "Names")["names"] for b in both] == [["all.q"], ["node1"]]

    held = _valid(_json(cluster, "qhold", str(job_id)), "Lines")
    assert held["exit"] == 0 and len(held["lines"]) == 1
    _valid(_json(cluster, "qrls", str(job_id)), "Lines")
    altered = _valid(_json(cluster, "qalter", "-N", "renamed", str(array["job_id"])), "Lines")
    assert altered == {"lines": [f"modified job name of job {array['job_id']}"], "exit": 0}
    suspended = _valid(_json(cluster, "qmod", "-sj", str(job_id), "-usj", str(job_id)), "Lines")
    assert len(suspended["lines"]) == 2 and suspended["exit"] == 0
    missing = _valid(_json(cluster, "qdel", "999999", code=1), "Lines")
    assert missing["exit"] == 1 and "999999" in missing["lines"][0]
    deleted = _valid(_json(cluster, "qdel", str(job_id), str(array["job_id"])), "Lines")
    assert deleted["exit"] == 0 and len(deleted["lines"]) == 2

    synced = _valid(_json(cluster, "qsub", "-sync", "y", "-b", "y", "/bin/sh", "-c", "exit 3", code=3), "Submitted")
    assert [(e["task_id"], e["exit_status"]) for e in synced["ends"]] == [(1, 3)]
    ended = _valid(_json(cluster, "qstat", "-j", str(synced["job_id"])), "JobDetailRows")["details"][0]
    assert ended["state"] == "z" and [o["exit_status"] for o in ended["outcomes"]] == [3]  # the finished list
    records = [_valid(r, "AccountingRecord") for r in _json(cluster, "qacct", "-j", str(synced["job_id"]))]
    assert [r["exit_status"] for r in records] == [3]
    totals = _valid(_json(cluster, "qacct", "-o"), "AccountingSummary")
    assert [g["owner"] for g in totals["groups"]] == [getpass.getuser()] and totals["total"]["ru_wallclock"] >= 0


def test_tables_as_csv_and_xml(cluster: Cluster) -> None:
    job_id = int(cluster.run("qsub", "-terse", "-b", "y", "/bin/sleep", "300", check=True).stdout)
    wait_until(lambda: any(r.job_id == job_id and r.state == "r" for r in cluster.jobs()), 30, "the job to run")
    table = list(csv.reader(io.StringIO(cluster.run("qhost", "--csv", "-F", "-q", check=True).stdout)))
    header = table[0]
    assert header[:3] == ["hostname", "arch", "ncpu"] and "load_avg" in header and header[-1] == "states"
    assert [row[0] for row in table[1:]] == ["node1", "node1"]  # the host, then its queue instance
    assert table[2][header.index("queuename")] == "all.q" and table[2][header.index("used")] == "1"
    assert int(table[1][header.index("mem_total")]) > 0
    summary = list(csv.reader(io.StringIO(cluster.run("qstat", "-g", "c", "--csv", check=True).stdout)))
    assert summary[0][:3] == ["cluster_queue", "cqload", "used"] and summary[1][0] == "all.q" and summary[1][2] == "1"
    refused = cluster.run("qstat", "-j", str(job_id), "--csv")
    assert (refused.returncode, refused.stdout) == (2, "") and "--csv" in refused.stderr
    doc = ET.fromstring(cluster.run("qhost", "-xml", check=True).stdout)
    assert [h.attrib["name"] for h in doc.findall("host")] == ["global", "node1"]
    doc = ET.fromstring(cluster.run("qstat", "-xml", check=True).stdout)
    assert [int(e.text or 0) for e in doc.iter("JB_job_number")] == [job_id]
    cluster.run("qdel", str(job_id), check=True)


def test_the_commands_and_restd_give_the_same_objects(cluster: Cluster) -> None:
    job_id = int(cluster.run("qsub", "-terse", "-N", "both", "-b", "y", "/bin/sleep", "300", check=True).stdout)
    wait_until(lambda: any(r.job_id == job_id and r.state == "r" for r in cluster.jobs()), 30, "the job to run")
    with Restd(cluster) as restd:
        token = restd.token()
        rest_rows = restd.tcp("GET", "/api/v1/jobs", token).json
        hosts_reply = restd.tcp("GET", "/api/v1/hosts", token)
        rest_hosts = hosts_reply.json
        rest_queues = restd.tcp("GET", "/api/v1/queues", token).json
        rest_names = restd.tcp("GET", "/api/v1/config/queue/names", token).json
        rest_conf = restd.tcp("GET", "/api/v1/config/queue?name=all.q", token).json
        openapi = restd.tcp("GET", "/openapi.json").json
        page = restd.tcp("GET", f"/api/v1/jobs/{job_id}", token).json
        held = restd.tcp("POST", f"/api/v1/jobs/{job_id}/hold", token, {}).json
    cli_rows = _json(cluster, "qstat", "-u", "*")
    for row in (*rest_rows, *cli_rows):  # a running task's usage moves between the two looks
        row.pop("usage")
    assert rest_rows == cli_rows
    cli_hosts = _json(cluster, "qhost", "-j")
    for host in (*rest_hosts, *cli_hosts):  # the load moves between the two looks
        host.pop("load"), host.pop("load_values"), host.pop("mem_used"), host.pop("swap_used")
        for qi in host["queues"]:
            qi.pop("load_avg")
    assert rest_hosts == cli_hosts
    assert [q["name"] for q in rest_queues["instances"]] == [q["name"] for q in _json(cluster, "qstat", "-f")["queues"]]
    assert rest_queues["cluster_queues"][0].keys() == _json(cluster, "qstat", "-g", "c")[0].keys()
    assert rest_names == _json(cluster, "qconf", "-sql") and rest_conf == _json(cluster, "qconf", "-sq", "all.q")
    assert set(held) == {"lines", "exit"} and held["exit"] == 0
    published = openapi["components"]["schemas"]
    for name, schema in schemas.components().items():
        assert published[name] == schema, name
    def answer(path: str, method: str = "get", status: str = "200") -> Any:
        return openapi["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]

    assert answer("/api/v1/jobs") == {"type": "array", "items": {"$ref": "#/components/schemas/JobRow"}}
    for path, document in (("/api/v1/jobs/{job_id}", page), ("/api/v1/hosts", hosts_reply.json),
                           ("/api/v1/queues", rest_queues), ("/api/v1/jobs/{job_id}/hold", held)):
        method = "post" if path.endswith("hold") else "get"
        jsonschema.Draft202012Validator({**answer(path, method), "components": openapi["components"]}).validate(
            document)
    assert page["outputs"]["files"] == [{"task_id": 1, "host": "node1", "stdout": f"/root/both.o{job_id}",
                                         "stderr": f"/root/both.e{job_id}"}]
    cluster.run("qdel", str(job_id), check=True)


def test_reservations_and_quotas_as_json(cluster: Cluster) -> None:
    granted = _valid(_json(cluster, "qrsub", "-N", "night", "-d", "1:0:0"), "Lines")
    assert granted["exit"] == 0 and "advance reservation" in granted["lines"][0], granted
    shown = _json(cluster, "qrstat")
    assert [r["name"] for r in shown["records"]] == ["night"] and shown["missing"] == []
    ar_id = shown["records"][0]["ar_id"]
    assert _json(cluster, "qrstat", "-ar", "999", code=1)["missing"] == [999]
    assert _json(cluster, "qquota") == []  # no resource quota set: no rule concerns anyone
    deleted = _valid(_json(cluster, "qrdel", str(ar_id)), "Lines")
    assert deleted["exit"] == 0 and str(ar_id) in deleted["lines"][0], deleted
    assert _json(cluster, "qrstat")["records"] == []
