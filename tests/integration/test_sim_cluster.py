"""Master logic on simulated exec hosts (``qsys.testing``): a real master built in the test's
process, real sockets and the real exec protocol, jobs that only pretend to run, and a fake
clock where time matters (a day of calendar passes in an instant)."""

from __future__ import annotations

import datetime as dt
import signal
from collections import Counter
from typing import Any

import pytest

from qsys.accounting_file import parse_record
from qsys.client import Client
from qsys.jobspec import JobSpec, PeRequest
from qsys.testing import Behaviour, FakeClock, SimCluster, by_name
from tests.integration.conftest import MakeCluster


def _job(name: str = "sim", **context: str) -> JobSpec:
    return JobSpec(command="/bin/true", binary=True, name=name, context=dict(context))


def _accounting(cluster: SimCluster) -> list[dict[str, Any]]:
    lines = cluster.cell.accounting_file.read_text().splitlines()
    return [record for record in map(parse_record, lines) if record is not None]


def _state(client: Client, job_id: int) -> str:
    """The job's qstat state ("" once it has left qstat)."""
    return next((row.state for row in client.jobs(["*"]) if row.job_id == job_id), "")


def _instance_states(client: Client) -> dict[str, str]:
    return {row.name: row.states for row in client.queues(["*"]).queues}


def _local(*when: int) -> float:
    return dt.datetime(*when).timestamp()  # type: ignore[arg-type]


def test_a_thousand_hosts_run_twenty_thousand_jobs_each_exactly_once(sim_cluster: MakeCluster) -> None:
    cluster = sim_cluster(hosts=1000, slots=16)
    with cluster.client() as client:
        hosts = client.hosts()
        assert len(hosts) == 1000 and {h.ncpu for h in hosts} == {16}
        assert sum(q.total for q in client.queues(["*"]).queues) == 16_000
        ids: list[int] = []
        for first in range(0, 20_000, 1000):
            ids.extend(s.job_id for s in client.submit_many([_job(f"j{first + i}") for i in range(1000)]))
        assert len(set(ids)) == 20_000
        cluster.wait_until(lambda: sum(cluster.fleet.log.acks.values()) == 20_000, 900,
                           "every job's end acknowledged")
        assert client.jobs(["*"]) == []
        figures = client.master_metrics()
    log = cluster.fleet.log
    expected = {(job_id, 1) for job_id in ids}
    assert set(log.starts) == expected and set(log.starts.values()) == {1}
    assert set(log.ends) == expected and set(log.ends.values()) == {1}
    accounted = Counter(r["job_number"] for r in _accounting(cluster))
    assert set(accounted) == set(ids) and set(accounted.values()) == {1}
    assert figures.counter("qsys_dispatches_total") == 20_000
    assert figures.histogram("qsys_scheduling_pass_seconds").count > 0
    assert len({r["hostname"] for r in _accounting(cluster)}) > 1


def test_a_host_that_loses_its_link_is_unknown_and_its_job_is_accounted_once(sim_cluster: MakeCluster) -> None:
    clock = FakeClock(_local(2030, 3, 1, 9))
    cluster = sim_cluster(hosts=2, slots=1, clock=clock)
    with cluster.client() as client:
        first = client.submit(_job("long", sim_run="600")).job_id
        cluster.wait_until(lambda: _state(client, first) == "r", 30, "the job to run")
        host = next(r.queue for r in client.jobs(["*"]) if r.job_id == first).partition("@")[2]
        other = next(name for name in cluster.host_names if name != host)
        cluster.call(lambda: cluster.host(host).disconnect(stay_down=True))
        cluster.wait_until(lambda: _instance_states(client)[f"all.q@{host}"] == "u", 30, "the host unknown")
        assert _state(client, first) == "r"  # the master does not know it ended: it may run on
        second = client.submit(_job("short", sim_run="60")).job_id
        cluster.wait_until(lambda: _state(client, second) == "r", 30, "the second job to run")
        assert next(r.queue for r in client.jobs(["*"]) if r.job_id == second) == f"all.q@{other}"
        cluster.advance(900)  # both end: the first while its host is away
        cluster.wait_until(lambda: _state(client, second) == "", 30, "the second job to end")
        assert _state(client, first) == "r"
        cluster.call(cluster.host(host).connect)
        cluster.wait_until(lambda: _state(client, first) == "", 30, "the first job's end, reported again")
        assert _instance_states(client)[f"all.q@{host}"] == ""
    records = {r["job_number"]: r for r in _accounting(cluster)}
    assert sorted(records) == [first, second]
    assert records[first]["hostname"] == host and records[first]["ru_wallclock"] == 600
    assert cluster.host(host).links == 2 and cluster.fleet.log.ends[(first, 1)] == 1


def test_a_hung_exec_daemon_tells_the_end_of_its_job_once_it_wakes(sim_cluster: MakeCluster) -> None:
    clock = FakeClock(_local(2030, 3, 1, 9))
    cluster = sim_cluster(hosts=1, slots=1, clock=clock)
    (name,) = cluster.host_names
    host = cluster.host(name)
    with cluster.client() as client:
        job = client.submit(_job("sleeper", sim_run="300")).job_id
        cluster.wait_until(lambda: _state(client, job) == "r", 30, "the job to run")
        cluster.call(host.hang)
        cluster.advance(600)  # the job ends while its exec daemon is stopped
        assert cluster.call(lambda: host.tasks[(job, 1)].report is not None)
        assert _state(client, job) == "r"
        cluster.call(host.resume)
        cluster.wait_until(lambda: _state(client, job) == "", 30, "the end, told after the wake-up")
    (record,) = _accounting(cluster)
    assert record["job_number"] == job and record["ru_wallclock"] == 300 and host.links == 1


def test_a_calendar_disables_a_queue_at_a_fake_time_and_enables_it_a_day_later(sim_cluster: MakeCluster) -> None:
    clock = FakeClock(_local(2029, 12, 31, 23))
    cluster = sim_cluster(hosts=1, slots=2, clock=clock)
    (name,) = cluster.host_names
    with cluster.client() as client:
        client.conf("add", "calendar", "newyear", "calendar_name newyear\nyear 1.1.2030=off\nweek NONE\n")
        client.conf("attr", "queue", "", mode="mattr", attr="calendar", value="newyear", objects=["all.q"])
        assert _instance_states(client) == {f"all.q@{name}": ""}
        cluster.advance(2 * 3600)  # 01:00 on New Year's Day
        assert _instance_states(client) == {f"all.q@{name}": "D"}
        job = client.submit(_job("waits")).job_id
        cluster.wait_until(lambda: any("disabled by calendar" in line for detail in client.job_details([str(job)]).details
                                       for line in detail.scheduling_info), 30, "the calendar's reason")
        assert _state(client, job) == "qw"
        cluster.advance(24 * 3600)  # the calendar's day is over: the periodic evaluation enables the queue
        cluster.wait_until(lambda: _state(client, job) == "", 30, "the job to run and end")
    assert [r["job_number"] for r in _accounting(cluster)] == [job]
    assert _accounting(cluster)[0]["start_time"] >= int(_local(2030, 1, 2))


def test_a_calendar_suspends_a_running_job_and_its_suspended_day_is_wallclock_not_cpu(
        sim_cluster: MakeCluster) -> None:
    clock = FakeClock(_local(2029, 12, 31, 23))
    cluster = sim_cluster(hosts=1, slots=1, clock=clock)
    (name,) = cluster.host_names
    signals = cluster.fleet.log.signals
    with cluster.client() as client:
        client.conf("add", "calendar", "newyear", "calendar_name newyear\nyear 1.1.2030=suspended\nweek NONE\n")
        client.conf("attr", "queue", "", mode="mattr", attr="calendar", value="newyear", objects=["all.q"])
        job = client.submit(_job("twohours", sim_run="7200")).job_id
        cluster.wait_until(lambda: _state(client, job) == "r", 30, "the job to run")
        cluster.advance(1800)  # 23:30: it runs on
        assert _state(client, job) == "r" and signals == []
        cluster.advance(3600)  # 00:30: the calendar suspends the queue, the job is stopped
        cluster.wait_until(lambda: signals == [(name, job, 1, signal.SIGSTOP)], 30, "SIGSTOP")
        assert _state(client, job) == "S" and _instance_states(client) == {f"all.q@{name}": "C"}
        cluster.advance(24 * 3600)  # 00:30 the next day: resumed, with half an hour to go
        cluster.wait_until(lambda: signals[1:] == [(name, job, 1, signal.SIGCONT)], 30, "SIGCONT")
        assert _state(client, job) == "r"
        cluster.advance(3600)
        cluster.wait_until(lambda: _state(client, job) == "", 30, "the job to end")
    (record,) = _accounting(cluster)
    assert record["ru_wallclock"] == 26 * 3600 and record["cpu"] == pytest.approx(7200)


def test_failures_to_start_exit_codes_and_kills_take_grid_engines_paths(sim_cluster: MakeCluster) -> None:
    policy = by_name({
        "nohost": Behaviour(fail_start="exec spool: disk full"),  # the host's fault: E, and again elsewhere
        "noshell": Behaviour(failed=27),  # the shepherd's: the job goes to Eqw
        "again": Behaviour(exit_status=99),  # asks to be run again
        "stubborn": Behaviour(run=None, kill_delay=30),  # dies 30 s after a qdel
    })
    clock = FakeClock(_local(2030, 6, 1, 12))
    cluster = sim_cluster(hosts=2, slots=2, clock=clock, policy=policy)
    log = cluster.fleet.log
    with cluster.client() as client:
        nohost = client.submit(_job("nohost")).job_id
        cluster.wait_until(lambda: sum(log.failed_starts.values()) == 2, 30, "a failed start on each host")
        states = _instance_states(client)
        assert sorted(states.values()) == ["E", "E"]
        assert _state(client, nohost) == "Rq"  # pending again, marked as rescheduled
        client.queue_action("clear", ["all.q"])
        cluster.wait_until(lambda: log.failed_starts[(nohost, 1)] >= 3, 30, "another try after qmod -c")
        client.job_action("delete", [str(nohost)])
        cluster.wait_until(lambda: _state(client, nohost) == "", 30, "the job deleted")
        client.queue_action("clear", ["all.q"])

        noshell = client.submit(_job("noshell")).job_id
        cluster.wait_until(lambda: _state(client, noshell) == "Eqw", 30, "the job in error state")
        client.job_action("delete", [str(noshell)])
        client.queue_action("clear", ["all.q"])

        again = client.submit(_job("again")).job_id
        cluster.wait_until(lambda: log.starts[(again, 1)] >= 2, 30, "a second run of exit status 99")
        client.job_action("delete", [str(again)])

        stubborn = client.submit(_job("stubborn")).job_id
        cluster.wait_until(lambda: _state(client, stubborn) == "r", 30, "the stubborn job to run")
        client.job_action("delete", [str(stubborn)])
        cluster.wait_until(lambda: _state(client, stubborn) == "dr", 30, "the job being deleted")
        cluster.advance(31)
        cluster.wait_until(lambda: _state(client, stubborn) == "", 30, "the stubborn job to die")
    records = {r["job_number"]: r for r in _accounting(cluster)}
    assert records[noshell]["failed"] == 27
    assert records[stubborn]["exit_status"] == 128 + signal.SIGKILL and records[stubborn]["ru_wallclock"] == 31


def test_a_parallel_job_on_several_hosts_accounts_its_pe_tasks(sim_cluster: MakeCluster) -> None:
    clock = FakeClock(_local(2030, 6, 1, 12))
    cluster = sim_cluster(hosts=3, slots=2, clock=clock)
    with cluster.client() as client:
        spec = _job("mpi", sim_run="100", sim_pe_task_run="50")
        spec.pe = PeRequest("mpi", 6, 6)
        job = client.submit(spec).job_id
        cluster.wait_until(lambda: _state(client, job) == "r", 30, "the PE job to run")
        slaves = [host.name for host in cluster.fleet.hosts.values() if (job, 1) in host.slaves]
        assert len(slaves) == 2
        cluster.advance(60)
        cluster.wait_until(lambda: len(cluster.fleet.log.pe_tasks) == 2, 30, "both pe tasks to end")
        cluster.wait_until(lambda: not any(host.pe_tasks for host in cluster.fleet.hosts.values()), 30,
                           "both pe task ends acknowledged (accounted)")
        cluster.advance(60)
        cluster.wait_until(lambda: _state(client, job) == "", 30, "the PE job to end")
        cluster.wait_until(lambda: not any(host.slaves for host in cluster.fleet.hosts.values()), 30,
                           "the slave hosts told the job ended")
    records = _accounting(cluster)
    assert sorted(r["pe_taskid"] for r in records) == sorted(["NONE", *(f"1.{h}" for h in slaves)])
    assert {r["granted_pe"] for r in records} == {"mpi"}
