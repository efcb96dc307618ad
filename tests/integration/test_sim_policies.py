"""The scheduling policies on a running master with simulated exec hosts (``qsys.testing``):
the share tree's fair share, resource reservation and backfill -- the real master, its store
and its passes, jobs that only pretend to run, a fake clock for their run times."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from qsys import protocol
from qsys.accounting_file import parse_record
from qsys.jobspec import JobSpec, PeRequest
from qsys.master.identity import Identity
from qsys.master.server import short_hostname
from qsys.testing import FakeClock, SimCluster
from tests.integration.conftest import MakeCluster

RUN = 60  # seconds each fair-share job runs


def _when(*parts: int) -> float:
    return dt.datetime(*parts).timestamp()  # type: ignore[arg-type]


def submit_as(cluster: SimCluster, user: str, specs: list[JobSpec]) -> list[int]:
    """Jobs of ``user`` (the master's request handler with that identity: the test runs as
    one Unix user)."""
    who = Identity(uid=60000 + sum(map(ord, user)), user=user, host=short_hostname())
    msg = protocol.SubmitMany(specs)
    handler = cluster.master.requests.lookup(msg)
    reply = cluster.call(handler(who, msg))
    return [s.job_id for s in reply.jobs]


def set_sconf(client: Any, **values: object) -> None:
    """Change attributes of the scheduler configuration (qconf -msconf)."""
    lines = client.conf_show("sconf").text.splitlines()
    out = []
    for line in lines:
        name = line.split(None, 1)[0] if line.strip() else ""
        out.append(f"{name} {values[name]}" if name in values else line)
    client.conf("modify", "sconf", "", "\n".join(out) + "\n")


def add_user(client: Any, name: str) -> None:
    client.conf("add", "user", name, f"name {name}\noticket 0\nfshare 0\ndelete_time 0\ndefault_project NONE\n")


def fair_tree(*users: str) -> str:
    children = ",".join(str(i + 1) for i in range(len(users)))
    text = f"id=0\nname=Root\ntype=0\nshares=1\nchildnodes={children}\n"
    for i, user in enumerate(users, 1):
        text += f"id={i}\nname={user}\ntype=0\nshares=50\nchildnodes=NONE\n"
    return text


def cli(cluster: SimCluster, *argv: str) -> subprocess.CompletedProcess[str]:
    """A q-command (``qstat -ext``) against the simulated cluster's master."""
    env = {**os.environ, "QSYS_ROOT": str(cluster.cell.root), "QSYS_CELL": cluster.cell.name,
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    env.pop("QSYS_MASTER", None)
    return subprocess.run([sys.executable, "-m", f"qsys.cli.{argv[0]}", *argv[1:]], env=env, capture_output=True,
                          text=True, timeout=60, cwd="/tmp")


def ext_rows(cluster: SimCluster) -> dict[int, dict[str, str]]:
    """qstat -ext -u '*' by job (the first row of each): the columns by name."""
    out = cli(cluster, "qstat", "-ext", "-u", "*")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    names = lines[0].split()
    rows: dict[int, dict[str, str]] = {}
    for line in lines[2:]:
        fields = line.split()
        if fields[8] == "NA" or ":" in fields[8]:  # running: cpu mem io are there
            values = dict(zip(names, fields, strict=False))
        else:  # pending: no cpu mem io
            values = dict(zip([n for n in names if n not in ("cpu", "mem", "io")], fields, strict=False))
        rows.setdefault(int(fields[0]), values)
    return rows


def _job(name: str, run: int = RUN, **extra: Any) -> JobSpec:
    return JobSpec(command="/bin/true", binary=True, name=name, context={"sim_run": str(run)}, **extra)


def test_share_tree_gives_a_late_user_the_next_slots_and_splits_slot_time_by_the_shares(
        sim_cluster: MakeCluster) -> None:
    cluster = sim_cluster(hosts=4, slots=2, clock=FakeClock(_when(2030, 6, 1, 12)))
    fleet = cluster.fleet
    with cluster.client() as client:
        for user in ("alice", "bob"):
            add_user(client, user)
        client.conf("add", "sharetree", "", fair_tree("alice", "bob"))
        # the tickets decide (the waiting time would favour the first user's older jobs)
        set_sconf(client, weight_tickets_share=10000, weight_ticket=1.0, weight_waiting_time=0.0)
        alice = set(submit_as(cluster, "alice", [_job(f"a{i}") for i in range(1000)]))
        cluster.wait_until(lambda: fleet.running() == 8, 60, "alice's first jobs on all 8 slots")
        for _ in range(2):  # two waves of alice's jobs end, charging her usage
            done = len(fleet.log.ends)
            cluster.advance(RUN)
            cluster.wait_until(lambda done=done: len(fleet.log.ends) == done + 8 and fleet.running() == 8, 60,
                               "the next wave")
        bob = set(submit_as(cluster, "bob", [_job(f"b{i}") for i in range(100)]))
        starts = list(fleet.log.starts)

        def wave() -> list[tuple[int, int]]:
            """Let the running jobs end; the jobs the master started in their place."""
            seen = len(fleet.log.starts)
            cluster.advance(RUN)
            cluster.wait_until(lambda: len(fleet.log.starts) >= seen + 8, 60, "the next wave started")
            cluster.wait_until(lambda: fleet.running() == 8, 60, "every slot busy again")
            new = list(fleet.log.starts)[seen:]
            return new

        first = wave()
        assert sum(1 for job, _ in first if job in bob) >= 6, "bob's jobs take the slots alice's jobs leave"
        shown = ext_rows(cluster)
        waiting_bob = [row for job, row in shown.items() if job in bob and row["state"] == "qw"]
        waiting_alice = [row for job, row in shown.items() if job in alice and row["state"] == "qw"]
        assert waiting_bob and waiting_alice
        assert {row["department"] for row in shown.values()} == {"defaultdep"}
        # qstat -ext: the share tree's tickets, more for the user who used less
        top_bob = max(int(row["stckt"]) for row in waiting_bob)
        assert top_bob > 0 and top_bob == max(int(row["tckts"]) for row in waiting_bob)
        assert top_bob > max(int(row["stckt"]) for row in waiting_alice)
        slot_time: Counter[str] = Counter()
        slot_time["alice"] += RUN * len(starts)  # alice's first waves
        for job, _ in first:
            slot_time["bob" if job in bob else "alice"] += RUN
        while not all((job, 1) in fleet.log.starts for job in bob):
            for job, _ in wave():
                slot_time["bob" if job in bob else "alice"] += RUN
        share = slot_time["bob"] / (slot_time["alice"] + slot_time["bob"])
        assert abs(share - 0.5) <= 0.05, f"bob's share of the slot time {share:.3f} ({dict(slot_time)})"
        assert alice  # her jobs keep the rest


def test_share_usage_survives_a_master_restart_and_override_tickets_go_first(qsys_root: Path) -> None:
    clock = FakeClock(_when(2030, 6, 1, 12))
    root = qsys_root / "cell"
    with SimCluster(root, hosts=1, slots=1, clock=clock) as cluster, cluster.client() as client:
        for user in ("alice", "bob"):
            add_user(client, user)
        client.conf("add", "sharetree", "", fair_tree("alice", "bob"))
        set_sconf(client, weight_tickets_share=10000, weight_ticket=1.0, weight_waiting_time=0.0)
        submit_as(cluster, "alice", [_job("a1"), _job("a2")])
        for ended in (1, 2):
            cluster.wait_until(lambda: cluster.fleet.running() == 1, 60, "a job running")
            cluster.advance(RUN)
            cluster.wait_until(lambda ended=ended: len(cluster.fleet.log.acks) == ended, 60, "the job's end accounted")
    with SimCluster(root, hosts=1, slots=1, clock=clock) as cluster, cluster.client() as client:
        usage = cluster.call(lambda: cluster.master.dispatcher.policies.usage.decayed(clock.now(), 168))
        assert set(usage) == {("alice", None)}
        assert 2 * RUN * 0.99 < usage[("alice", None)]["cpu"] <= 2 * RUN  # charged, hardly decayed
        (blocker,) = submit_as(cluster, "bob", [_job("block", run=10 * RUN)])
        cluster.wait_until(lambda: cluster.fleet.running() == 1, 60, "the blocker running")
        (late,) = submit_as(cluster, "alice", [_job("late")])
        (early,) = submit_as(cluster, "bob", [_job("early")])
        cluster.wait_until(lambda: set(ext_rows(cluster)) == {blocker, late, early}, 60, "both shown")

        def pending_order() -> list[int]:
            out = cli(cluster, "qstat", "-pri", "-s", "p", "-u", "*")
            return [int(line.split()[0]) for line in out.stdout.splitlines()[2:]]

        # alice used the cluster before the restart: bob's job comes first
        cluster.wait_until(lambda: pending_order() == [early, late], 60, "bob's job first")
        refused = cli(cluster, "qalter", "-ot", "abc", str(late))
        assert refused.returncode != 0 and "-ot" in refused.stderr
        done = cli(cluster, "qalter", "-ot", "100000", str(late))
        assert done.returncode == 0, done.stderr
        assert f"sets override tickets of job {late} to 100000" in done.stdout
        detail = cli(cluster, "qstat", "-j", str(late)).stdout
        assert "oticket:                    100000" in detail.splitlines()
        cluster.wait_until(lambda: pending_order() == [late, early], 60, "the override tickets put alice's job first")
        row = ext_rows(cluster)[late]
        assert int(row["ovrts"]) == 100000 and int(row["otckt"]) > 0
        cluster.advance(10 * RUN)
        cluster.wait_until(lambda: (late, 1) in cluster.fleet.log.starts, 60, "the next job started")
        assert (early, 1) not in cluster.fleet.log.starts


def _accounting(cluster: SimCluster) -> list[dict[str, Any]]:
    return [r for r in map(parse_record, cluster.cell.accounting_file.read_text().splitlines()) if r is not None]


def settle(cluster: SimCluster) -> None:
    """After a clock move: the tasks due have ended and been accounted, a pass has seen it,
    and every task it started runs on its simulated host."""
    hosts = cluster.fleet.hosts.values()
    now = cluster.clock.now()
    cluster.wait_until(lambda: not any(t.due is not None and t.due <= now for h in hosts for t in h.tasks.values()),
                       60, "the tasks due to end acknowledged")
    cluster.call(cluster.master.dispatcher.run_pass())
    tasks = cluster.call(lambda: sum(len(job.tasks) for job in cluster.master.state.jobs.values()))
    cluster.wait_until(lambda: cluster.fleet.running() == tasks, 60, f"{tasks} tasks running")


def _timed(name: str, run: int, h_rt: int, **extra: Any) -> JobSpec:
    return _job(name, run=run, hard_resources={"h_rt": str(h_rt)}, **extra)


def test_a_reserved_pe_job_starts_by_its_reservation_while_short_jobs_backfill(sim_cluster: MakeCluster) -> None:
    cluster = sim_cluster(hosts=4, slots=4, clock=FakeClock(_when(2030, 6, 1, 12)))
    fleet, log = cluster.fleet, cluster.fleet.log
    start = cluster.clock.now()
    with cluster.client() as client:
        set_sconf(client, max_reservation=10)
        # 16 slots busy: 12 end after 600 s, 4 after 1200 s (their h_rt says so)
        long = [*(_timed(f"l{i}", 600, 600) for i in range(12)), *(_timed(f"L{i}", 1200, 1200) for i in range(4))]
        client.submit_many(long)
        cluster.wait_until(lambda: fleet.running() == 16, 60, "16 long jobs running")
        wide = _timed("wide", 300, 300, pe=PeRequest("mpi", 16, 16), reserve=True)
        pe_job = client.submit(wide).job_id
        shorts = {s.job_id for s in client.submit_many([_timed(f"s{i}", 240, 240) for i in range(30)])}
        too_long = {s.job_id for s in client.submit_many([_timed(f"x{i}", 900, 900) for i in range(2)])}

        def reservation() -> Any:
            return cluster.call(lambda: cluster.master.dispatcher.policies.reservations.get(pe_job))

        planned = cluster.wait_until(reservation, 60, "the PE job's reservation")
        # the 4 long jobs end 1200 s from the start (+ DURATION_OFFSET 60 s): all 16 slots then
        assert planned.start == start + 1260 and sum(a.slots for a in planned.assignments) == 16
        summary = cli(cluster, "qstat", "-g", "c")
        resv = [line.split() for line in summary.stdout.splitlines() if line.startswith("all.q")]
        assert resv and int(resv[0][3]) == 16, summary.stdout  # CLUSTER QUEUE CQLOAD USED RES ...
        for step, ended, running in ((600, 12, 16), (240, 24, 16), (240, 36, 4), (120, 40, 1)):
            cluster.advance(step)  # to 600, 840, 1080, 1200 s
            cluster.wait_until(lambda ended=ended: sum(log.acks.values()) == ended, 60, f"{ended} ends accounted (now {sum(log.acks.values())})")
            # a pass that surely saw the ends (the master's own may have run before the last)
            cluster.call(cluster.master.dispatcher.run_pass())
            cluster.wait_until(lambda running=running: fleet.running() == running, 60, f"{running} tasks running")
        assert (pe_job, 1) in log.starts
        for _ in range(20):  # the rest runs, 300 s at a time
            if sum(log.acks.values()) == 49:
                break
            cluster.advance(300)
            settle(cluster)
        assert sum(log.acks.values()) == 49, "every job accounted"
    started = {r["job_number"]: r["start_time"] - start for r in _accounting(cluster) if r["pe_taskid"] == "NONE"}
    assert started[pe_job] <= planned.start - start
    backfilled = [job for job in shorts if started[job] < started[pe_job]]
    assert len(backfilled) == 24  # two waves of 12 in the gaps before it
    assert all(started[job] + 240 + 60 <= planned.start - start for job in backfilled)
    assert all(started[job] >= started[pe_job] for job in too_long)


def test_an_advance_reservation_keeps_its_slots_for_its_own_jobs(sim_cluster: MakeCluster) -> None:
    cluster = sim_cluster(hosts=2, slots=2, clock=FakeClock(_when(2030, 6, 1, 12)))
    fleet = cluster.fleet
    granted = cli(cluster, "qrsub", "-d", "1:0:0", "-N", "night", "-pe", "mpi", "2")
    assert granted.returncode == 0 and granted.stdout == "Your advance reservation 1 has been granted\n", granted
    summary = cli(cluster, "qrstat").stdout.splitlines()
    assert summary[0].split() == ["ar-id", "name", "owner", "state", "start", "at", "end", "at", "duration"]
    assert summary[2].split()[:4] == ["1", "night", "root", "r"] and summary[2].endswith(" 01:00:00")
    detail = dict(line.split(None, 1) for line in cli(cluster, "qrstat", "-ar", "1").stdout.splitlines()[1:])
    assert detail["granted_parallel_environment"] == "mpi slots 2"
    (slots,) = detail["granted_slots_list"].split(",")  # both on one host (mpi fills up)
    reserved_host = slots.split("=")[0].split("@")[1]
    assert slots.endswith("=2")
    xml = cli(cluster, "qrstat", "-xml").stdout
    assert "<ar_summary>" in xml and "<name>night</name>" in xml and "<state>r</state>" in xml
    missing = cli(cluster, "qrstat", "-ar", "7")
    assert missing.returncode == 1 and missing.stdout == "Following advance reservations do not exist:\n7\n"

    with cluster.client() as client:
        others = [s.job_id for s in client.submit_many([_job(f"o{i}", run=600) for i in range(4)])]
        cluster.wait_until(lambda: fleet.running() == 2, 60, "two jobs beside the reservation")
        settle(cluster)
        assert fleet.running() == 2  # the reserved host stays free for the reservation's jobs
        assert all(host.name != reserved_host or not host.tasks for host in fleet.hosts.values())
        refused = cli(cluster, "qsub", "-ar", "9", "-b", "y", "/bin/true")
        assert refused.returncode != 0 and "advance reservation id 9 is invalid" in refused.stderr
        inside = cli(cluster, "qsub", "-terse", "-ar", "1", "-ac", "sim_run=60", "-b", "y", "/bin/true")
        assert inside.returncode == 0, inside.stderr
        ar_job = int(inside.stdout)
        cluster.wait_until(lambda: (ar_job, 1) in fleet.log.starts, 60, "the reservation's job running")
        assert (ar_job, 1) in fleet.hosts[reserved_host].tasks
        cluster.advance(60)
        cluster.wait_until(lambda: fleet.log.acks[(ar_job, 1)] == 1, 60, "the reservation's job accounted")
        deleted = cli(cluster, "qrdel", "1")
        assert deleted.stdout == "root has deleted advance_reservation 1\n", deleted
        assert cli(cluster, "qrstat").stdout == ""
        cluster.wait_until(lambda: fleet.running() == 4, 60, "the other jobs on the freed slots")
        assert len(others) == 4
    records = {r["job_number"]: r for r in _accounting(cluster)}
    assert records[ar_job]["arid"] == 1 and "-ar 1" in records[ar_job]["category"]
    acct = cli(cluster, "qacct", "-ar", "-f", str(cluster.cell.accounting_file)).stdout.splitlines()
    assert acct[0].startswith("AR        WALLCLOCK") and [line.split()[0] for line in acct[2:]] == ["1"]


QUOTA = """{
   name         maxslots
   description  "two slots a user in all.q"
   enabled      TRUE
   limit        users {*} queues all.q to slots=2
}
"""


def test_a_resource_quota_holds_each_user_to_its_limit_and_says_so(sim_cluster: MakeCluster,
                                                                   tmp_path: Path) -> None:
    cluster = sim_cluster(hosts=2, slots=4, clock=FakeClock(_when(2030, 6, 1, 12)))
    fleet = cluster.fleet
    bad = tmp_path / "bad.rqs"
    bad.write_text(QUOTA.replace("slots=2", "slotz=2"))
    refused = cli(cluster, "qconf", "-Arqs", str(bad))
    assert refused.returncode != 0 and "slotz" in refused.stderr + refused.stdout
    assert cli(cluster, "qconf", "-srqsl").stdout.strip() in ("", "no resource quota set list defined")
    good = tmp_path / "good.rqs"
    good.write_text(QUOTA)
    added = cli(cluster, "qconf", "-Arqs", str(good))
    assert added.returncode == 0, added.stderr
    alice = submit_as(cluster, "alice", [_job(f"a{i}", run=600) for i in range(4)])
    bob = submit_as(cluster, "bob", [_job(f"b{i}", run=600) for i in range(3)])
    cluster.wait_until(lambda: fleet.running() == 4, 60, "two jobs of each user")
    settle(cluster)
    running = {job for host in fleet.hosts.values() for job, _ in host.tasks}
    assert len(running & set(alice)) == 2 and len(running & set(bob)) == 2
    shown = cli(cluster, "qquota", "-u", "*")
    assert shown.stdout.splitlines()[2:] == [
        "maxslots/1         slots=2/2            users alice queues all.q",
        "maxslots/1         slots=2/2            users bob queues all.q"], shown.stdout
    assert cli(cluster, "qquota").stdout == ""  # root runs nothing
    xml = cli(cluster, "qquota", "-u", "bob", "-xml").stdout
    assert "<qquota_rule name='maxslots/1'>" in xml and "<users>bob</users>" in xml
    assert "<limit resource='slots' limit='2' value='2'/>" in xml and "alice" not in xml
    waiting = next(job for job in alice if job not in running)
    detail = cli(cluster, "qstat", "-j", str(waiting)).stdout
    assert 'cannot run because it exceeds limit "alice/////" in rule "maxslots/1"' in detail, detail


def _scheduling_info(cluster: SimCluster, job: int) -> list[str]:
    """qstat -j's ``scheduling info:`` lines of a job."""
    lines = cli(cluster, "qstat", "-j", str(job)).stdout.splitlines()
    first = next((i for i, line in enumerate(lines) if line.startswith("scheduling info:")), None)
    if first is None:
        return []
    return [line[28:] for line in lines[first:] if line.startswith(("scheduling info:", " " * 28))]


def test_qstat_j_says_why_a_job_waits_and_qalter_w_verifies_it(sim_cluster: MakeCluster) -> None:
    cluster = sim_cluster(hosts=1, slots=2, clock=FakeClock(_when(2030, 6, 1, 12)))

    def qsub(*args: str) -> int:
        out = cli(cluster, "qsub", "-terse", *args, "-b", "y", "/bin/true")
        assert out.returncode == 0, out.stderr
        return int(out.stdout)

    first = qsub("-ac", "sim_run=forever")
    qsub("-ac", "sim_run=forever")
    full = qsub()
    never = qsub("-l", "arch=nowhere")
    after = qsub("-hold_jid", str(first))
    held = qsub("-h")
    cluster.wait_until(lambda: cluster.fleet.running() == 2, 60, "two jobs running")
    settle(cluster)
    host = cluster.host_names[0]
    assert _scheduling_info(cluster, full) == [f'queue instance "all.q@{host}" dropped because it is full',
                                               "All queues dropped because of overload or full"]
    assert any(line.startswith(f"(-l arch=nowhere) cannot run at host \"{host}\" because it offers only hl:arch=")
               for line in _scheduling_info(cluster, never))
    assert _scheduling_info(cluster, after) == ["job dropped because of job dependencies"]
    assert _scheduling_info(cluster, held) == ["Job is in hold state"]

    def qalter(level: str, job: int) -> list[str]:
        return cli(cluster, "qalter", "-w", level, str(job)).stdout.splitlines()

    assert qalter("v", full) == ["verification: found suitable queue(s)"]  # on an empty cluster
    assert qalter("p", full) == [f'Job {full} queue instance "all.q@{host}" dropped because it is full',
                                 "verification: no suitable queues"]  # as the cluster is now
    verdict = qalter("v", never)
    assert verdict[-1] == "verification: no suitable queues" and verdict[0].startswith(f"Job {never} (-l arch=nowhere)")
    assert qalter("p", held) == ["verification: job is already running or is held"]
    with cluster.client() as client:
        set_sconf(client, schedd_job_info="false")
    assert _scheduling_info(cluster, full) == ["(Collecting of scheduler job information is turned off)"]


def test_functional_shares_order_the_users_and_qstat_ext_shows_their_tickets(sim_cluster: MakeCluster) -> None:
    cluster = sim_cluster(hosts=1, slots=1, clock=FakeClock(_when(2030, 6, 1, 12)))
    with cluster.client() as client:
        for user, shares in (("alice", 10), ("bob", 90)):
            client.conf("add", "user", user, f"name {user}\noticket 0\nfshare {shares}\ndelete_time 0\n"
                        "default_project NONE\n")
        set_sconf(client, weight_tickets_functional=10000, weight_ticket=1.0, weight_waiting_time=0.0)
    (blocker,) = submit_as(cluster, "alice", [_job("block", run=RUN)])
    cluster.wait_until(lambda: cluster.fleet.running() == 1, 60, "the blocker running")
    alice = submit_as(cluster, "alice", [_job(f"a{i}") for i in range(3)])
    bob = submit_as(cluster, "bob", [_job(f"b{i}") for i in range(3)])
    settle(cluster)
    rows = ext_rows(cluster)
    assert int(rows[bob[0]]["ftckt"]) > int(rows[alice[0]]["ftckt"]) > 0
    assert all(rows[job]["stckt"] == rows[job]["otckt"] == "0" for job in alice + bob)
    cluster.advance(RUN)
    settle(cluster)
    assert (bob[0], 1) in cluster.fleet.log.starts and (alice[0], 1) not in cluster.fleet.log.starts


def test_a_reservation_to_come_keeps_its_jobs_waiting_until_its_window(sim_cluster: MakeCluster) -> None:
    clock = FakeClock(_when(2030, 6, 1, 12))
    cluster = sim_cluster(hosts=1, slots=2, clock=clock)
    granted = cli(cluster, "qrsub", "-a", "203006011300", "-d", "600", "-N", "later")
    assert granted.returncode == 0, granted
    assert cli(cluster, "qrstat").stdout.splitlines()[2].split()[3] == "w"
    inside = cli(cluster, "qsub", "-terse", "-ar", "1", "-ac", "sim_run=60", "-b", "y", "/bin/true")
    job = int(inside.stdout)
    settle(cluster)
    assert (job, 1) not in cluster.fleet.log.starts
    assert "job dropped because its advance reservation has not started yet" in _scheduling_info(cluster, job)
    too_long = cli(cluster, "qsub", "-ar", "1", "-l", "h_rt=3600", "-b", "y", "/bin/true")
    assert too_long.returncode != 0 and "longer than duration of the advance reservation id 1" in too_long.stderr
    cluster.advance(3600)  # 13:00: the window opens
    cluster.wait_until(lambda: (job, 1) in cluster.fleet.log.starts, 60, "the job started in its window")
    assert cli(cluster, "qrstat").stdout.splitlines()[2].split()[3] == "r"
    cluster.advance(600)  # the window closes: the reservation is gone
    settle(cluster)
    cluster.wait_until(lambda: cli(cluster, "qrstat").stdout == "", 60, "the reservation ended")
