"""The scheduler: pure functions from a snapshot of the cluster to dispatch decisions.

No I/O and nothing asynchronous: the master builds a :class:`Snapshot`, calls
:func:`schedule` and applies the returned :class:`Decision`. The value parsers are shared
with the master, which uses them to refuse malformed requests at submit time.
"""

from qsys.sched.allocate import HostOffer, allocate, valid_rule
from qsys.sched.matching import JobRequest, compile_request, queue_matches
from qsys.sched.memo import Memo
from qsys.sched.scheduler import category_key, load_value, normalize_priorities, schedule
from qsys.sched.snapshot import (
    DEFAULT_COMPLEXES,
    AdvanceReservationSnap,
    Assignment,
    ComplexDef,
    Decision,
    Dispatch,
    HostSnap,
    JobPriority,
    ObjectShares,
    PendingJob,
    PeSnap,
    QueueInstanceSnap,
    Reservation,
    RunningJob,
    Snapshot,
    TicketConfig,
    complex_index,
    parse_complex_table,
)
from qsys.sched.tickets import decay_usage
from qsys.sched.values import (
    compare,
    compile_expression,
    match_expression,
    parse_memory,
    parse_time,
    parse_value,
)

__all__ = [
    "DEFAULT_COMPLEXES",
    "AdvanceReservationSnap",
    "Assignment",
    "ComplexDef",
    "Decision",
    "Dispatch",
    "HostOffer",
    "HostSnap",
    "JobPriority",
    "JobRequest",
    "Memo",
    "ObjectShares",
    "PeSnap",
    "PendingJob",
    "QueueInstanceSnap",
    "Reservation",
    "RunningJob",
    "Snapshot",
    "TicketConfig",
    "allocate",
    "category_key",
    "compare",
    "compile_expression",
    "compile_request",
    "complex_index",
    "decay_usage",
    "load_value",
    "match_expression",
    "normalize_priorities",
    "parse_complex_table",
    "parse_memory",
    "parse_time",
    "parse_value",
    "queue_matches",
    "schedule",
    "valid_rule",
]
