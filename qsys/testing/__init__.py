"""Simulated exec hosts over the real protocol, and the clocks the master takes: for tests and
benchmarks that need a real master and many hosts, without a process per host or per job.

* :mod:`~qsys.testing.clock`: :class:`FakeClock` (moves only when told), :class:`RealClock`;
* :mod:`~qsys.testing.behaviour`: how a simulated job behaves (:class:`Behaviour`, chosen per
  task by a policy: the job's context variables, its name, or any function of its Launch);
* :mod:`~qsys.testing.simhost`: :class:`SimHost`, one exec daemon's link and its pretend jobs;
* :mod:`~qsys.testing.fleet`: :class:`SimFleet`, many of them on one event loop;
* :mod:`~qsys.testing.cluster`: :class:`SimCluster`, a master built in-process plus a fleet,
  its loop in a thread (:class:`LoopThread`), for synchronous pytest tests.
"""

from qsys.testing.behaviour import Behaviour, Policy, by_name, from_context
from qsys.testing.clock import FakeClock, RealClock
from qsys.testing.cluster import LoopThread, SimCluster
from qsys.testing.fleet import SimFleet
from qsys.testing.simhost import SimHost, SimLog, open_link

__all__ = ["Behaviour", "FakeClock", "LoopThread", "Policy", "RealClock", "SimCluster", "SimFleet", "SimHost", "SimLog",
           "by_name", "from_context", "open_link"]
