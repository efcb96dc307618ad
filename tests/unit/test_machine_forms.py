"""Pure parts of the machine-readable forms and the master's figures: json_form, the published
schemas, the output-path rules before a job runs, the shared --json row, histograms."""

from __future__ import annotations

import jsonschema
import pytest

from qsys import output_paths, protocol, schemas
from qsys.cli import engine, qdel, qstat
from qsys.master.metrics import Histogram, Metrics, PassTimer, PassTimes
from qsys.records import HostRow, JobRow, MasterMetrics, Submitted, TaskEnd, json_form


def test_json_form_has_every_field_and_what_the_class_derives() -> None:
    row = JobRow(7, 0.5, "sleep", "alice", "hqw", 1.0, None, "", 1, "")
    data = json_form(row)
    assert data["state_family"] == "held" and data["usage"] is None and data["hard_resources"] == {}
    assert set(data) == set(schemas.components()["JobRow"]["properties"])
    host = HostRow("a", "lx-amd64", 2, 1, 2, 2, None, 1, 0, 0, 0)
    assert json_form([host])[0]["state"] == "down" and json_form(host)["jobs"] == []
    sub = Submitted(3, "arr", [1, 5, 2], ends=[TaskEnd(3, 1, exit_status=2, is_array=True)])
    assert json_form(sub)["message"] == 'Your job-array 3.1-5:2 ("arr") has been submitted'
    assert json_form(sub)["ends"][0] == {"job_id": 3, "task_id": 1, "exit_status": 2, "signal": 0, "failed": 0,
                                         "deleted": False, "is_array": True}
    assert json_form({"b": b"\xffx"}) == {"b": "\ufffdx"}


def test_the_published_schemas_are_valid_json_schema_and_describe_json_form() -> None:
    document = schemas.document()
    jsonschema.Draft202012Validator.check_schema(document)
    assert {"JobRow", "HostRow", "HostJob", "JobDetail", "JobSpec", "Submitted", "Lines", "Names", "ConfText",
            "MasterMetrics", "AccountingRecord", "AccountingSummary"} <= set(document["$defs"])
    spec = document["$defs"]["JobSpec"]
    assert "terse" not in spec["properties"] and "script" not in spec["required"]
    row = json_form(JobRow(7, 0.5, "sleep", "alice", "r", 1.0, 2.0, "all.q@a", 1, "", usage={"cpu": 1.0}))
    validator = jsonschema.Draft202012Validator({"$ref": "#/$defs/JobRow", **document})
    validator.validate(row)
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({**row, "slots": "one"})


def test_every_reference_of_the_published_schemas_is_published() -> None:
    """A record type a published object holds (JobDetail's outcomes: TaskOutcome) is published too."""

    def refs(node: object) -> set[str]:
        if isinstance(node, dict):
            found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
            return found.union(*(refs(v) for v in node.values()))
        if isinstance(node, list):
            return set().union(*(refs(v) for v in node))
        return set()

    for prefix, document in ((schemas.JSON_SCHEMA_REFS, schemas.document()),
                             (schemas.OPENAPI_REFS, {"schemas": schemas.components()})):
        published = set(document["$defs"] if "$defs" in document else document["schemas"])
        assert {r.removeprefix(prefix) for r in refs(document)} - published == set()


def test_output_paths_before_the_job_runs_keep_what_is_not_known() -> None:
    def ctx(task_id: int | None, host: str, is_array: bool = True) -> output_paths.PathContext:
        return output_paths.PathContext(9, task_id, is_array, "jn", "/home/u", "u", host, "/work",
                                        is_dir=lambda path: path.endswith("/"))

    pending = ctx(None, output_paths.UNKNOWN_HOST)
    plan = output_paths.plan(["node1:/n/$TASK_ID", "logs/"], [], None, False, pending)
    assert (plan.stdout, plan.stderr) == ("/work/logs/jn.o9.$TASK_ID", "/work/jn.e9.$TASK_ID")
    running = output_paths.plan(["node1:/n/$TASK_ID.$HOSTNAME", "logs/"], [], None, True, ctx(4, "node1"))
    assert (running.stdout, running.stderr) == ("/n/4.node1", "/n/4.node1")
    assert output_paths.expand("$TASK_ID", ctx(None, "h", is_array=False)) == "undefined"


def test_the_shared_output_rows_set_the_form_of_any_state() -> None:
    assert qstat.parse_args(["--json"])["form"] == "json" and qstat.parse_args(["-xml", "--csv"])["form"] == "csv"
    assert qdel.parse_targets(["--json", "5"], qdel.QDEL_OPTIONS).form == "json"
    assert engine.JSON.help == "JSON output (qsys)" and engine.JSON.name == "--json"


def test_a_histogram_counts_in_fixed_buckets_and_estimates_quantiles() -> None:
    hist = Histogram("h", "a histogram", (0.1, 1.0))
    for value in (0.05, 0.1, 0.5, 0.7, 3.0):
        hist.observe(value)
    figures = hist.figures()
    assert figures.cumulative == [2, 4, 5] and figures.count == 5 and figures.max == 3.0
    assert figures.sum == pytest.approx(4.35)
    assert figures.quantile(0.4) == pytest.approx(0.1) and figures.quantile(0.6) == pytest.approx(0.55)
    assert figures.quantile(0.99) == 3.0  # in the +Inf bucket: the largest observation
    assert Histogram("e", "empty", (1.0,)).figures().quantile(0.5) == 0.0


def test_a_pass_timer_marks_the_four_phases() -> None:
    timer = PassTimer()
    for _ in range(4):
        timer.mark()
    times = timer.times(5, 2)
    assert (times.pending, times.dispatched) == (5, 2) and times.total >= 0 and len(timer.seconds) == 4


def test_the_masters_figures_travel_as_a_typed_reply() -> None:
    metrics = Metrics(started=5.0)
    metrics.record_pass(PassTimes(0.001, 0.002, 0.0005, 0.0015, pending=40, dispatched=3))
    metrics.record_pass(PassTimes(0.001, 0.004, 0.0005, 0.0005, pending=37, dispatched=0))
    metrics.submissions.inc(2)
    for _ in range(3):
        metrics.request(protocol.JobsStatus)
    frame = protocol.encode(metrics.figures())
    figures = protocol.decode(frame[4:])
    assert isinstance(figures, MasterMetrics)
    passes = figures.histogram("qsys_scheduling_pass_seconds")
    assert passes.count == 2 and passes.sum == pytest.approx(0.011) and passes.max == pytest.approx(0.006)
    assert figures.counter("qsys_scheduling_phase_seconds_total", phase="decide") == pytest.approx(0.006)
    assert figures.gauge("qsys_scheduling_last_pass_seconds", phase="commit") == pytest.approx(0.0005)
    assert figures.gauge("qsys_scheduling_last_pass_pending_jobs") == 37
    assert figures.counter("qsys_submissions_total") == 2
    assert figures.counter("qsys_requests_total", type="jobs_status") == 3
    assert figures.counter("qsys_requests_total", type="submit") == 0
    with pytest.raises(KeyError):
        figures.histogram("nothing")
