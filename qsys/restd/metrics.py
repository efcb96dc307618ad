"""``/metrics``: the cluster in Prometheus' text format (``prometheus_client``).

Every scrape turns the shared snapshot (``qsys.restd.view``) and the accounting ledger into
metric families; nothing is kept between scrapes but what the ledger follows.

What only the master can measure (scheduling pass time, dispatch and start latency, store
commit latency, submissions, dispatches, finishes, requests per type) comes from its
``MetricsStatus`` reply (``qsys.master.metrics``), already under Prometheus' names:
``master_families`` turns its typed histograms and values into families.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from itertools import groupby
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from qsys.records import MasterMetrics, MetricValue
from qsys.restd.adapter import Snapshot
from qsys.restd.ledger import Ledger
from qsys.restd.view import ClusterView, host_states


def _number(text: Any) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def cluster_families(snap: Snapshot, highest_finished: int = 0) -> Iterator[Metric]:
    """Jobs, slots, hosts and load values of one snapshot."""
    jobs = GaugeMetricFamily("qsys_jobs", "Jobs as qstat lists them (a pending job, a running task), "
                             "by state family and cluster queue", labels=["state", "queue"])
    counts = Counter((r.state_family, r.queue.partition("@")[0]) for r in snap.jobs)
    for state in ("pending", "held", "error"):  # jobs waiting have no queue yet
        counts.setdefault((state, ""), 0)
    for cqueue in snap.cluster_queues:
        for state in ("running", "transferring", "suspended", "deleting"):
            counts.setdefault((state, cqueue.name), 0)
    for (state, queue), n in sorted(counts.items()):
        jobs.add_metric([state, queue], n)
    yield jobs

    used = GaugeMetricFamily("qsys_queue_slots_used", "Slots in use per queue instance",
                             labels=["queue", "host"])
    total = GaugeMetricFamily("qsys_queue_slots", "Slots per queue instance", labels=["queue", "host"])
    for qi in snap.queue_instances:
        queue, _, host = qi.name.partition("@")
        used.add_metric([queue, host], qi.used)
        total.add_metric([queue, host], qi.total)
    yield used
    yield total

    hosts = GaugeMetricFamily("qsys_hosts", "Exec hosts by state (up: reporting load; down: silent; "
                              "unknown: configured, never seen)", labels=["state"])
    for state, names in host_states(snap.hosts, snap.exec_hosts).items():
        hosts.add_metric([state], len(names))
    yield hosts

    load = GaugeMetricFamily("qsys_exec_host_load", "Load values an exec host reports (qhost -F)",
                             labels=["host", "name"])
    for exec_host in snap.hosts:
        for name, text in sorted(exec_host.load_values.items()):
            value = _number(text)
            if value is not None:
                load.add_metric([exec_host.name, name], value)
    yield load

    highest = max([r.job_id for r in snap.jobs] + [highest_finished])
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


def master_families(figures: MasterMetrics | None) -> Iterator[Metric]:
    """Families from the master's MetricsStatus reply (none from a master without one)."""
    if figures is None:
        return
    for hist in figures.histograms:
        buckets = [(_bound(le), float(n)) for le, n in zip(hist.bounds, hist.cumulative, strict=False)]
        buckets.append(("+Inf", float(hist.count)))
        yield HistogramMetricFamily(hist.name, hist.help, buckets=buckets, sum_value=hist.sum)
    for values, family in ((figures.counters, CounterMetricFamily), (figures.gauges, GaugeMetricFamily)):
        for name, series in groupby(sorted(values, key=lambda v: v.name), key=lambda v: v.name):
            items: list[MetricValue] = list(series)
            labels = sorted(items[0].labels)
            metric = family(name, items[0].help, labels=labels)
            for item in items:
                metric.add_metric([item.labels.get(k, "") for k in labels], item.value)
            yield metric


def _bound(value: float) -> str:
    """A bucket bound as Prometheus' clients print it (``0.005``, ``1.0``)."""
    return repr(float(value))


class ClusterCollector(Collector):
    """Collects on every scrape from the view's (cached) snapshot."""

    def __init__(self, view: ClusterView) -> None:
        self.view = view

    def collect(self) -> Iterable[Metric]:
        snap = self.view.snapshot()
        yield from cluster_families(snap, self.view.ledger.highest_job)
        yield from accounting_families(self.view.ledger)
        yield from master_families(snap.master)


def registry_for(view: ClusterView) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ClusterCollector(view))
    return registry
