"""What qsys.master.configcache derives from the configuration: the same values the direct
lookups give, kept while the configuration stays, worked out again after any change."""

from __future__ import annotations

from dataclasses import replace

from qsys.master.attrs import edit_attribute
from qsys.master.config import ClusterConfig
from qsys.master.configcache import consumables, instance_conf, launch_conf, limit_value
from qsys.objects import default_complexes, default_queue


def cell(*edits: tuple[str, str, str]) -> ClusterConfig:
    """A configuration whose all.q on n1 and n2 has these (attribute, value, host) edits."""
    queue = replace(default_queue(slots=4), hostlist=["n1", "n2"])
    for attr, value, host in edits:
        queue = edit_attribute(queue, "mattr", attr, value, host)
    config = ClusterConfig()
    config.put("queue", "all.q", queue)
    return config


def test_instance_conf_reads_the_queue_with_its_host_overrides() -> None:
    config = cell(("load_thresholds", "np_load_avg=1.75", ""), ("complex_values", "gpu=2", ""), ("seq_no", "7", "n2"))
    one, two = instance_conf(config, "all.q", "n1"), instance_conf(config, "all.q", "n2")
    assert (one.seq_no, two.seq_no) == (0, 7)
    assert one.qtype == frozenset({"BATCH", "INTERACTIVE"})
    assert one.pe_list == ["make", "smp", "mpi"]
    assert one.complex_values["gpu"] == "2"
    assert one.complex_values["h_rt"] == config.queue_attr("all.q", "h_rt", "n1") == "INFINITY"
    assert one.load_thresholds == [("np_load_avg", "1.75")]
    assert one.calendar == "" and one.subordinates == []


def test_derived_values_are_kept_until_the_configuration_changes() -> None:
    config = cell()
    first = instance_conf(config, "all.q", "n1")
    assert instance_conf(config, "all.q", "n1") is first  # worked out once
    config.put("queue", "all.q", edit_attribute(config.queues["all.q"], "mattr", "subordinate_list", "low.q=2"))
    changed = instance_conf(config, "all.q", "n1")
    assert changed is not first
    assert changed.subordinates == [("low.q", "2")]


def test_launch_conf_parses_the_queue_limits() -> None:
    config = cell(("h_rt", "1:00:00", ""), ("h_vmem", "2G", ""), ("prolog", "NONE", ""))
    conf = launch_conf(config, "all.q", "n1")
    assert conf.limits["h_rt"] == 3600.0
    assert conf.limits["h_vmem"] == 2 * 1024 ** 3
    assert conf.limits["s_rt"] is None  # INFINITY
    assert conf.prolog == ""
    assert conf.shell == config.queue_attr("all.q", "shell", "n1")
    assert limit_value("h_cpu", "0:10:00") == 600.0
    assert limit_value("s_vmem", "INFINITY") is None and limit_value("h_rt", None) is None


def test_consumables_of_a_request() -> None:
    config = cell()
    complexes = default_complexes()
    made = [replace(c, consumable="YES") if c.name == "h_vmem" else c for c in complexes.complexes]
    config.put("complex", "", replace(complexes, complexes=made))
    items = consumables(config, {"h_vmem": "1G", "arch": "lx-amd64"})  # arch is no consumable
    assert [(c.name, c.per_job, c.amount) for c in items] == [("h_vmem", False, float(1024 ** 3))]
