"""``/metrics``: the cluster in Prometheus' text format (``prometheus_client``).

Every scrape turns the shared snapshot (``qsys.restd.view``) and the accounting ledger into
metric families; nothing is kept between scrapes but what the ledger follows.

What only the master can measure (dispatch latency, scheduling pass time, store commit
latency, dispatches) comes from a status message the master will provide: ``master_families``
turns its map into families, and the snapshot carries it as ``snapshot["master"]`` (None
until the master sends one). Its expected form::

    {"histograms": {"qsys_dispatch_latency_seconds": {"help": "...",
                        "buckets": [[0.005, 3], [0.01, 7], ["+Inf", 9]], "sum": 0.04}},
     "counters": {"qsys_dispatches_total": {"help": "...", "value": 9}},
     "gauges": {...same as counters...}}

with cumulative bucket counts, as Prometheus defines them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from qsys.restd.ledger import Ledger
from qsys.restd.view import ClusterView, host_states, state_class

# the families the master's status message is expected to bring (see the module docstring)
MASTER_METRICS = {
    "qsys_dispatch_latency_seconds": "histogram",
    "qsys_scheduling_pass_seconds": "histogram",
    "qsys_store_commit_seconds": "histogram",
    "qsys_dispatches_total": "counter",
}


def _number(text: Any) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def cluster_families(snap: dict[str, Any], highest_finished: int = 0) -> Iterator[Metric]:
    """Jobs, slots, hosts and load values of one snapshot."""
    jobs = GaugeMetricFamily("qsys_jobs", "Jobs as qstat lists them (a pending job, a running task), "
                             "by state family and cluster queue", labels=["state", "queue"])
    counts = Counter((state_class(r["state"], r["queue"]), r["queue"].partition("@")[0]) for r in snap["jobs"])
    for state in ("pending", "held", "error"):  # jobs waiting have no queue yet
        counts.setdefault((state, ""), 0)
    for cqueue in snap["cluster_queues"]:
        for state in ("running", "transferring", "suspended", "deleting"):
            counts.setdefault((state, cqueue["name"]), 0)
    for (state, queue), n in sorted(counts.items()):
        jobs.add_metric([state, queue], n)
    yield jobs

    used = GaugeMetricFamily("qsys_queue_slots_used", "Slots in use per queue instance",
                             labels=["queue", "host"])
    total = GaugeMetricFamily("qsys_queue_slots_total", "Slots per queue instance", labels=["queue", "host"])
    for qi in snap["queue_instances"]:
        queue, _, host = qi["name"].partition("@")
        used.add_metric([queue, host], qi["used"])
        total.add_metric([queue, host], qi["total"])
    yield used
    yield total

    hosts = GaugeMetricFamily("qsys_hosts", "Exec hosts by state (up: reporting load; down: silent; "
                              "unknown: configured, never seen)", labels=["state"])
    for state, names in host_states(snap["hosts"], snap["exec_hosts"]).items():
        hosts.add_metric([state], len(names))
    yield hosts

    load = GaugeMetricFamily("qsys_exec_host_load", "Load values an exec host reports (qhost -F)",
                             labels=["host", "name"])
    for host in snap["hosts"]:
        for name, text in sorted(host.get("load_values", {}).items()):
            value = _number(text)
            if value is not None:
                load.add_metric([host["name"], name], value)
    yield load

    highest = max([r["job_id"] for r in snap["jobs"]] + [highest_finished])
    yield CounterMetricFamily("qsys_jobs_submitted", "Job numbers handed out (the highest job number seen)",
                              value=highest)


def accounting_families(ledger: Ledger) -> Iterator[Metric]:
    """Totals per owner over the accounting file (finished tasks, cpu, wallclock)."""
    tasks = CounterMetricFamily("qsys_accounting_tasks", "Finished tasks accounted, per owner", labels=["owner"])
    cpu = CounterMetricFamily("qsys_accounting_cpu_seconds", "CPU time of finished tasks, per owner",
                              labels=["owner"])
    wall = CounterMetricFamily("qsys_accounting_wallclock_seconds", "Wallclock time of finished tasks, per owner",
                               labels=["owner"])
    for owner, totals in sorted(ledger.owners.items()):
        tasks.add_metric([owner], totals.tasks)
        cpu.add_metric([owner], totals.cpu)
        wall.add_metric([owner], totals.wallclock)
    yield tasks
    yield cpu
    yield wall


def master_families(status: dict[str, Any] | None) -> Iterator[Metric]:
    """Families from the master's own status message (none until the master sends one)."""
    if not status:
        return
    for name, data in sorted(status.get("histograms", {}).items()):
        buckets = [(str(le), float(count)) for le, count in data.get("buckets", [])]
        if not buckets or buckets[-1][0] != "+Inf":
            buckets.append(("+Inf", buckets[-1][1] if buckets else 0.0))
        yield HistogramMetricFamily(name, data.get("help", name), buckets=buckets,
                                    sum_value=float(data.get("sum", 0.0)))
    for kind, family in (("counters", CounterMetricFamily), ("gauges", GaugeMetricFamily)):
        for name, data in sorted(status.get(kind, {}).items()):
            yield family(name, data.get("help", name), value=float(data.get("value", 0.0)))


class ClusterCollector(Collector):
    """Collects on every scrape from the view's (cached) snapshot."""

    def __init__(self, view: ClusterView) -> None:
        self.view = view

    def collect(self) -> Iterable[Metric]:
        snap = self.view.snapshot()
        yield from cluster_families(snap, self.view.ledger.highest_job)
        yield from accounting_families(self.view.ledger)
        yield from master_families(snap.get("master"))


def registry_for(view: ClusterView) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ClusterCollector(view))
    return registry
