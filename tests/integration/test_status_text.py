"""qstat's text made by the master (``StatusText``) and the status cache (``status_cache``):
the text is what the command prints from the rows, every form of it; a reply is served again
only while nothing a client was told about happened since; a command in another time zone
gets the rows."""

from __future__ import annotations

from typing import Any

from qsys import protocol
from qsys.cli import formats, xmlout
from qsys.client import Client
from qsys.jobspec import JobSpec, TaskRange
from qsys.testing import Behaviour, by_name
from tests.integration.conftest import MakeCluster


def _spec(name: str, **extra: Any) -> JobSpec:
    return JobSpec(command="/bin/true", binary=True, name=name, **extra)


def _mixed(client: Client) -> None:
    """Running, pending, held, array and -l jobs."""
    client.submit_many([_spec("run") for _ in range(3)])
    client.submit_many([_spec(f"pend{i}", hard_resources={"h_vmem": "1G"}) for i in range(5)])
    client.submit(_spec("held", hold=True))
    client.submit(_spec("array", tasks=TaskRange(1, 40, 1), hold=True))


def _metric(client: Client, name: str) -> float:
    return client.master_metrics().counter(name)


def _text(client: Client, query: protocol.JobsStatus, **kwargs: Any) -> str:
    reply = client.status_text(query, **kwargs)
    assert isinstance(reply, str), reply
    return reply


def test_every_form_is_what_the_command_prints_from_the_rows(sim_cluster: MakeCluster) -> None:
    cluster = sim_cluster(hosts=1, slots=3, policy=by_name({"run": Behaviour(run=None)}))
    with cluster.client() as client:
        _mixed(client)
        cluster.wait_until(lambda: sum(r.state == "r" for r in client.jobs(["*"])) == 3, 60, "three jobs running")
        everyone = ["*"]
        brief = protocol.JobsStatus(everyone, brief=True)
        full = protocol.JobsStatus(everyone)
        rows = client.jobs(everyone)
        assert _text(client, brief) == formats.qstat_jobs(client.jobs(everyone, brief=True))
        assert _text(client, full, form="ext") == formats.qstat_jobs_ext(rows)
        assert _text(client, full, form="requested") == formats.qstat_jobs_requested(rows)
        assert _text(client, full, form="tasks") == formats.qstat_jobs_tasks(rows)
        assert _text(client, full, form="xml") == xmlout.qstat_xml(rows)
        forms = ["ext", "requested", "tasks"]
        assert _text(client, full, form="xml", xml_forms=forms) == xmlout.qstat_xml(rows, frozenset(forms))
        data = client.queues(everyone, brief=True)
        assert _text(client, brief, full=True) == formats.qstat_full(data.queues, data.jobs)
        assert _text(client, brief, full=True, explain="E") == formats.qstat_full(data.queues, data.jobs,
                                                                                  explain="E")
        data = client.queues(everyone)
        assert _text(client, full, full=True, form="xml") == xmlout.qstat_full_xml(data.queues, data.jobs)
        pending = protocol.JobsStatus(everyone, brief=True, states="p")
        assert _text(client, pending) == formats.qstat_jobs(client.jobs(everyone, brief=True, states="p"))
        assert "pend0" in _text(client, pending) and " run " not in _text(client, pending)


def test_a_command_in_another_time_zone_gets_the_rows(sim_cluster: MakeCluster) -> None:
    cluster = sim_cluster(hosts=1)
    with cluster.client() as client:
        client.submit(_spec("held", hold=True))
        query = protocol.JobsStatus(["*"], brief=True)
        for zone in ("TZ=Pacific/Auckland", ""):
            reply = client.request(protocol.StatusText(query, zone=zone))
            assert isinstance(reply, protocol.JobRows)
            assert [row.name for row in reply.rows] == ["held"]
        reply = client.request(protocol.StatusText(query, full=True, zone="TZ=Pacific/Auckland"))
        assert isinstance(reply, protocol.QueueRows) and [row.name for row in reply.jobs] == ["held"]


def test_an_unchanged_state_is_served_again_and_every_write_is_in_the_next_read(sim_cluster: MakeCluster) -> None:
    cluster = sim_cluster(hosts=1)
    with cluster.client() as client:
        client.submit_many([_spec("held", hold=True) for _ in range(20)])
        query = protocol.JobsStatus(["*"], brief=True)
        first = _text(client, query)
        reused = _metric(client, "qsys_status_replies_reused_total")
        assert [_text(client, query) for _ in range(5)] == [first] * 5
        assert _metric(client, "qsys_status_replies_reused_total") == reused + 5
        for round in range(5):  # read-after-write, with the reply of the state before at hand
            job = client.submit(_spec(f"new{round}", hold=True)).job_id
            assert f"new{round}" in _text(client, query)
            assert [row.job_id for row in client.jobs(["*"]) if row.job_id == job] == [job]
            client.job_action("delete", [str(job)])
            assert f"new{round}" not in _text(client, query)
            assert job not in {row.job_id for row in client.jobs(["*"])}
        client.job_action("release", [], users=["*"])
        assert " hqw " not in _text(client, query)


def test_a_job_that_ended_leaves_the_next_read_while_the_budget_lasts(sim_cluster: MakeCluster) -> None:
    cluster = sim_cluster(hosts=1, policy=by_name({"short": Behaviour(run=0.2)}))
    with cluster.client() as client:
        query = protocol.JobsStatus(["*"], brief=True)
        job = client.submit(_spec("short")).job_id
        cluster.wait_until(lambda: "short" in _text(client, query) and " r " in _text(client, query), 30,
                           "the job running")
        cluster.wait_until(lambda: cluster.fleet.log.acks.get((job, 1)), 30, "its end acknowledged")
        assert _text(client, query) == ""
