"""What the scheduler's memo keeps across passes, and when it starts afresh."""

from __future__ import annotations

import dataclasses

import pytest

from qsys.sched import HostSnap, Memo, PendingJob, QueueInstanceSnap, Snapshot, schedule
from qsys.sched import memo as memo_module


def cluster() -> Snapshot:
    snap = Snapshot(now=1000.0)
    for h in (1, 2):
        name = f"node{h}"
        snap.hosts[name] = HostSnap(name, load={"np_load_avg": "0.1", "arch": "lx-amd64", "num_proc": "2"})
        snap.queue_instances.append(QueueInstanceSnap("all.q", name, slots=2))
    snap.jobs = [PendingJob(job_id=1, hard_resources={"arch": "lx-arm64"}), PendingJob(job_id=2)]
    return snap


def test_the_memo_stays_while_only_use_and_load_change_and_renews_on_a_new_configuration() -> None:
    memo = Memo()
    first = cluster()
    schedule(first, memo)
    assert memo.renewals == 1 and memo.statics
    busier = dataclasses.replace(first, queue_instances=[dataclasses.replace(qi, used_slots=1)
                                                         for qi in first.queue_instances])
    busier.hosts["node1"] = dataclasses.replace(busier.hosts["node1"], load={**busier.hosts["node1"].load,
                                                                             "np_load_avg": "1.9"})
    schedule(busier, memo)
    assert memo.renewals == 1
    changed = dataclasses.replace(first, queue_instances=[dataclasses.replace(qi, pe_list=["smp"])
                                                          for qi in first.queue_instances])
    schedule(changed, memo)
    assert memo.renewals == 2


def test_a_memo_holding_too_many_reasons_starts_afresh(monkeypatch: pytest.MonkeyPatch) -> None:
    memo = Memo()
    snap = cluster()
    schedule(snap, memo)
    assert memo.failures() > 0  # arch=lx-arm64 fails on both instances
    monkeypatch.setattr(memo_module, "MAX_FAILURES", 1)
    schedule(snap, memo)
    assert memo.renewals == 2
