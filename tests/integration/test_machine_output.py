"""qhost -j and the machine-readable forms of qstat/qhost on a real cluster with running jobs."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET

from tests.clusterlib import Cluster, wait_until


def _running(cluster: Cluster, count: int) -> list[int]:
    ids = []
    for n in range(count):
        proc = cluster.run("qsub", "-terse", "-N", f"sleep{n}", "-o", "/dev/null", "-j", "y", "-b", "y",
                           "/bin/sleep", "300")
        assert proc.returncode == 0, proc.stderr
        ids.append(int(proc.stdout))
    wait_until(lambda: sum(r.state == "r" for r in cluster.jobs()) == count, 30, "the jobs to run")
    return ids


def test_qhost_jobs_and_machine_forms(cluster: Cluster) -> None:
    ids = _running(cluster, 2)
    pending = cluster.run("qsub", "-terse", "-h", "-b", "y", "/bin/true")
    assert pending.returncode == 0
    text = cluster.run("qhost", "-j").stdout.splitlines()
    assert text[3].startswith("node1 ")
    assert text[4].startswith("   job-ID  prior   name")
    lines = [line for line in text[6:] if line.strip()]
    assert sorted(int(line.split()[0]) for line in lines) == ids
    assert all(" all.q@node MASTER " in line for line in lines), lines

    doc = ET.fromstring(cluster.run("qhost", "-j", "-q", "-xml").stdout)
    node = [h for h in doc.findall("host") if h.attrib["name"] == "node1"][0]
    assert sorted(int(j.attrib["name"]) for j in node.findall("job")) == ids
    assert node.find("queue").attrib["name"] == "all.q"  # type: ignore[union-attr]
    hosts = json.loads(cluster.run("qhost", "-j", "--json").stdout)
    assert sorted(j["job_id"] for h in hosts for j in h["jobs"]) == ids

    for args in (["-xml"], ["-xml", "-ext"], ["-xml", "-r"], ["-xml", "-t"], ["-f", "-xml"]):
        proc = cluster.run("qstat", *args)
        assert proc.returncode == 0, (args, proc.stderr)
        doc = ET.fromstring(proc.stdout)
        numbers = sorted(int(e.text or 0) for e in doc.iter("JB_job_number"))
        assert numbers == sorted([*ids, int(pending.stdout)]), args
    details = ET.fromstring(cluster.run("qstat", "-j", str(ids[0]), "-xml").stdout)
    assert details.tag == "detailed_job_info" and details.find("djob_info/element/JB_job_number").text == str(ids[0])  # type: ignore[union-attr]

    listed = json.loads(cluster.run("qstat", "--json").stdout)
    assert sorted(r["job_id"] for r in listed) == sorted([*ids, int(pending.stdout)])
    table = list(csv.reader(io.StringIO(cluster.run("qstat", "--csv").stdout)))
    assert table[0][0] == "job_id" and len(table) == 4
    full = list(csv.reader(io.StringIO(cluster.run("qstat", "-f", "--csv").stdout)))
    assert full[0][0] == "queuename" and {r[0] for r in full[1:3]} == {"all.q@node1"}
    missing = cluster.run("qstat", "-j", "999999", "--json")
    assert missing.returncode == 1 and json.loads(missing.stdout)["missing"] == ["999999"]
