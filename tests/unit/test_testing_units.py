"""The pieces of ``qsys.testing`` on their own: the fake clock's timers and waits, and the
simulated shepherd's reports."""

from __future__ import annotations

import asyncio
import signal
import threading

import pytest

from qsys.launch import Launch
from qsys.testing import Behaviour, FakeClock, by_name, from_context
from qsys.testing.behaviour import exit_report


def _launch(**spec: object) -> Launch:
    return Launch(job_id=7, task_id=1, is_array=False, spec=dict(spec), owner="alice", uid=1000, group="users",
                  gid=100, queue="all.q", host="node1", slots=2, total_slots=2)


def test_a_move_fires_each_due_timer_once_in_order_at_the_new_time() -> None:
    async def run() -> list[tuple[str, float]]:
        clock = FakeClock(1000.0)
        fired: list[tuple[str, float]] = []

        def periodic() -> None:
            fired.append(("tick", clock.now()))
            clock.call_later(10, periodic)

        clock.call_later(10, periodic)
        clock.call_later(5, lambda: fired.append(("five", clock.now())))
        clock.call_later(500, lambda: fired.append(("late", clock.now()))).cancel()
        clock.call_later(3000, lambda: fired.append(("never", clock.now())))
        clock.advance(1000)  # a hundred ticks' worth: one tick
        clock.advance(5)
        clock.advance(5)
        return fired

    assert asyncio.run(run()) == [("five", 2000.0), ("tick", 2000.0), ("tick", 2010.0)]


def test_wait_ends_with_the_event_or_with_the_clocks_time_never_the_real_one() -> None:
    async def run() -> tuple[bool, bool, bool]:
        clock = FakeClock(0.0)
        event = asyncio.Event()
        waiting = asyncio.ensure_future(clock.wait(event, 60))
        await asyncio.sleep(0.05)
        still = not waiting.done()  # real time passed, the clock's did not
        clock.advance(60)
        timed_out = await waiting
        event.set()
        return still, timed_out, await clock.wait(event, 60)

    assert asyncio.run(run()) == (True, False, True)


def test_the_clock_does_not_go_back_and_moves_from_another_thread_on_its_loop() -> None:
    async def run() -> tuple[float, bool]:
        clock = FakeClock(100.0)
        with pytest.raises(ValueError):
            clock.set(50.0)
        fired_on: list[bool] = []
        loop_thread = threading.get_ident()
        clock.call_later(1, lambda: fired_on.append(threading.get_ident() == loop_thread))
        await asyncio.to_thread(clock.advance, 1)
        return clock.now(), fired_on == [True]

    assert asyncio.run(run()) == (101.0, True)


def test_behaviour_from_the_jobs_context_or_its_name() -> None:
    policy = from_context(Behaviour(run=5))
    assert policy(_launch(context={"sim_run": "30", "sim_exit": "3"})) == Behaviour(run=30, exit_status=3)
    assert policy(_launch(context={"sim_run": "forever"})).run is None
    assert policy(_launch()) == Behaviour(run=5)
    named = by_name({"bad": Behaviour(fail_start="no spool")}, policy)
    assert named(_launch(name="bad")).fail_start == "no spool"
    assert named(_launch(name="good", context={"sim_cpu": "0.5"})) == Behaviour(run=5, cpu=0.5)


def test_reports_follow_the_shepherds_rules() -> None:
    launch = _launch()
    plain = exit_report(Behaviour(cpu=0.5), launch, 100.0, 160.0, stopped=20.0)
    assert (plain.exit_status, plain.ru_wallclock, plain.cpu, plain.failed) == (0, 60.0, 40.0, 0)
    assert exit_report(Behaviour(exit_status=99), launch, 0, 1).rerun
    assert exit_report(Behaviour(exit_status=100), launch, 0, 1).error_state
    killed = exit_report(Behaviour(exit_status=99), launch, 0, 1, sig=signal.SIGKILL, killed=True)
    assert (killed.exit_status, killed.signal, killed.rerun, killed.killed) == (137, 9, False, True)
    limit = exit_report(Behaviour(), launch, 0, 10, h_rt=True)
    assert (limit.failed, limit.signal) == (37, 9) and "h_rt" in limit.error
    before = exit_report(Behaviour(failed=26), launch, 0, 1)
    assert before.failed == 26 and before.error_state and before.start_time == 0
