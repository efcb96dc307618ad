"""Pure parts of qsys-restd: user tokens, submissions and qalter changes through qsub's
option engine, state families, refusals' status codes, settings, the master's figures as
Prometheus families, the Grafana dashboard's metric names."""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qsys import auth
from qsys.errors import AuthenticationError, UsageError
from qsys.paths import Cell

KEY = b"k" * 32
ME = os.getuid()


def test_a_token_names_its_uid_until_it_expires() -> None:
    token = auth.sign_user_token(KEY, ME, 60, now=1000.0)
    uid, user, expiry = auth.verify_user_token(KEY, token, now=1059.0)
    assert (uid, user, expiry) == (ME, pwd.getpwuid(ME).pw_name, 1060)
    with pytest.raises(AuthenticationError, match="token expired"):
        auth.verify_user_token(KEY, token, now=1060.0)
    with pytest.raises(AuthenticationError, match="signature does not match"):
        auth.verify_user_token(b"x" * 32, token, now=1000.0)
    assert auth.sign_user_token(KEY, ME, 60, now=1000.0) != token, "each token is new"


@given(st.text(max_size=200))
def test_any_string_is_a_valid_token_or_an_authentication_error(text: str) -> None:
    try:
        auth.verify_user_token(KEY, text)
    except AuthenticationError:
        pass


@given(st.binary(max_size=60), st.binary(max_size=40))
def test_well_formed_junk_is_refused(body: bytes, sig: bytes) -> None:
    token = f"qsys1.{auth._b64(body)}.{auth._b64(sig)}"
    with pytest.raises(AuthenticationError):
        auth.verify_user_token(KEY, token)


_CELLS = Path(tempfile.mkdtemp(prefix="qsys-restd-units-"))


@pytest.fixture(scope="module", autouse=True)
def _remove_cells() -> Iterator[None]:
    yield
    shutil.rmtree(_CELLS, ignore_errors=True)


def _cell() -> Cell:
    return Cell(Path(tempfile.mkdtemp(dir=_CELLS)), "default")


def test_submission_through_qsubs_option_engine() -> None:
    from qsys.restd.jobspecs import build_submission

    script = "#!/bin/sh\n#$ -l h_rt=60\n#$ -N fromdirective\necho\n"
    spec = build_submission(ME, ["-j", "y", "-t", "1-3"], script, [], "job.sh", ["x"], "/tmp", {"A": "1"}, _cell())
    assert (spec.name, spec.command, spec.args, spec.binary) == ("fromdirective", "job.sh", ["x"], False)
    assert spec.hard_resources == {"h_rt": "60"} and spec.join and spec.tasks is not None
    assert spec.script == script.encode() and spec.submit_env["LOGNAME"] == pwd.getpwuid(ME).pw_name
    spec = build_submission(ME, ["-V", "-v", "B", "-cwd"], None, ["/bin/echo", "hi"], "", [], "/srv",
                            {"A": "1", "B": "2"}, _cell())
    assert (spec.command, spec.args, spec.binary, spec.name, spec.cwd) == ("/bin/echo", ["hi"], True, "echo", "/srv")
    assert spec.env["A"] == "1" and spec.env["B"] == "2" and "QSYS_ROOT" not in spec.env, "never restd's env"


@pytest.mark.parametrize(("options", "script", "command", "message"), [
    (["-@", "/etc/shadow"], None, ["/bin/true"], 'invalid option argument "-@"'),
    (["-sync", "y"], None, ["/bin/true"], 'invalid option argument "-sync"'),
    (["-verify"], None, ["/bin/true"], 'invalid option argument "-verify"'),
    (["/etc/passwd"], None, [], "give a binary command"),
    ([], None, [], "no job given"),
    ([], "echo", ["/bin/true"], "not both"),
])
def test_submissions_restd_refuses(options: list[str], script: str | None, command: list[str], message: str) -> None:
    from qsys.restd.jobspecs import build_submission

    with pytest.raises(UsageError, match=message):
        build_submission(ME, options, script, command, "", [], None, {}, _cell())


def test_alter_changes_are_the_fields_the_options_touch() -> None:
    from qsys.restd.jobspecs import alter_changes

    changes, verify = alter_changes(ME, ["-N", "x", "-soft", "-l", "a=1", "-hard", "-q", "all.q", "-p", "0",
                                         "-j", "n", "-w", "v"], None, {})
    assert changes == {"name": "x", "soft_resources": {"a": "1"}, "hard_queues": ["all.q"], "priority": 0,
                       "join": False}
    assert verify == "v"
    changes, _ = alter_changes(ME, ["-V", "-h", "u"], None, {"ONLY": "this"})
    assert changes["env"] == {"ONLY": "this"} and changes["_holds"] == "u", "never restd's environment"
    for refused in (["-t", "1-2"], ["-b", "y"], ["-@", "f"], ["12"], ["-u", "bob"], ["-help"]):
        with pytest.raises(UsageError):
            alter_changes(ME, refused, None, {})


def test_state_families_and_refusal_codes() -> None:
    from qsys.records import state_family as state_class
    from qsys.restd.api import Refused
    from qsys.restd.view import host_states

    assert [state_class(s, q) for s, q in [("qw", ""), ("hqw", ""), ("Eqw", ""), ("r", "a@h"), ("t", "a@h"),
                                            ("s", "a@h"), ("dr", "a@h"), ("Rr", "a@h")]] == [
        "pending", "held", "error", "running", "transferring", "suspended", "deleting", "running"]
    assert Refused(['bob - you do not have the necessary privileges to delete the job "1"']).status == 403
    assert Refused(['denied: job "9" does not exist']).status == 404
    assert Refused(["job 3 can't modify running jobs"]).status == 400
    hosts = [_host("a", 0.5), _host("b", None)]
    assert host_states(hosts, ["a", "b", "c"]) == {"up": ["a"], "down": ["b"], "unknown": ["c"]}


def test_an_ended_jobs_output_files_are_where_its_tasks_ran() -> None:
    from qsys.records import JobDetail
    from qsys.restd.api import output_files

    def ended(tasks: dict[str, Any] | None, **spec: Any) -> JobDetail:
        return JobDetail(7, {"name": "j", "cwd": "/w", "tasks": tasks, **spec}, "ann", 1000, "g", 1000, 0.0, "z")

    array = ended({"first": 1, "last": 3, "step": 1}, stdout_paths=["/out/$HOSTNAME.$TASK_ID", "b:/only/on/b"])
    records = [{"task_number": 1, "hostname": "a"}, {"task_number": 2, "hostname": "b"},
               {"task_number": 1, "hostname": "a"}]  # a task with two records (it was run again) is one entry
    files = output_files(array, "/home/ann", records)["files"]
    assert files == [{"task_id": 1, "host": "a", "stdout": "/out/a.1", "stderr": "/w/j.e7.1"},
                     {"task_id": 2, "host": "b", "stdout": "/only/on/b", "stderr": "/w/j.e7.2"}]
    plain = output_files(ended(None, join=True), "/home/ann", [{"task_number": 0, "hostname": "a"}])
    assert plain["joined"] and plain["files"] == [{"task_id": 1, "host": "a", "stdout": "/w/j.o7", "stderr": "/w/j.o7"}]
    assert output_files(ended(None), "/home/ann", [])["files"] == [], "a job deleted before it ran wrote nothing"


def test_settings_defaults_and_errors() -> None:
    from qsys.restd import settings

    cell = _cell()
    cell.write_bootstrap({"mode": "personal"})
    loaded = settings.load(cell)
    assert (loaded.port, loaded.bind, loaded.monitoring_open, loaded.loopback_only) == (None, "127.0.0.1", False, True)
    assert loaded.socket_path == cell.restd_spool / "restd.sock"
    cell.write_bootstrap({"restd_port": "7445", "restd_bind": "0.0.0.0", "restd_monitoring": "open"})
    loaded = settings.load(cell)
    assert (loaded.port, loaded.loopback_only, loaded.monitoring_open) == (7445, False, True)
    for bad in ({"restd_port": "http"}, {"restd_port": "70000"}, {"restd_monitoring": "everyone"}):
        cell.write_bootstrap(bad)
        with pytest.raises(UsageError):
            settings.load(cell)


def _host(name: str, load: float | None, **values: str) -> Any:
    from qsys.records import HostRow

    return HostRow(name, "lx-amd64", 1, 1, 1, 1, load, 0, 0, 0, 0, load_values=dict(values))


def test_the_masters_figures_become_families() -> None:
    from prometheus_client import generate_latest
    from prometheus_client.parser import text_string_to_metric_families
    from prometheus_client.registry import Collector, CollectorRegistry

    from qsys.master.metrics import Metrics
    from qsys.protocol import JobsStatus
    from qsys.restd.metrics import master_families

    metrics = Metrics(started=1000.0)
    for seconds in (0.002, 0.004, 30.0):
        metrics.dispatch_latency.observe(seconds)
    metrics.dispatches.inc(3)
    metrics.request(JobsStatus)
    figures = metrics.figures()

    class Fixed(Collector):
        def collect(self):  # type: ignore[no-untyped-def]
            return master_families(figures)

    registry = CollectorRegistry()
    registry.register(Fixed())
    text = generate_latest(registry).decode()
    assert 'qsys_dispatch_latency_seconds_bucket{le="0.005"} 2.0' in text
    assert 'qsys_dispatch_latency_seconds_bucket{le="+Inf"} 3.0' in text
    assert "qsys_dispatch_latency_seconds_count 3.0" in text and "qsys_dispatches_total 3.0" in text
    assert 'qsys_requests_total{type="jobs_status"} 1.0' in text
    assert "qsys_master_start_time_seconds 1000.0" in text
    parsed = {f.name: f.type for f in text_string_to_metric_families(text)}
    assert parsed["qsys_scheduling_pass_seconds"] == "histogram" and parsed["qsys_finishes"] == "counter"
    assert list(master_families(None)) == []


def _exported_names() -> set[str]:
    """Every sample name /metrics gives for a small snapshot (the master's figures included)."""
    from qsys.master.metrics import Metrics
    from qsys.protocol import JobsStatus
    from qsys.records import ClusterQueueRow, JobRow, QueueInstanceRow
    from qsys.restd.adapter import Snapshot
    from qsys.restd.ledger import Ledger, OwnerTotals
    from qsys.restd.metrics import accounting_families, cluster_families, master_families

    master = Metrics()
    master.request(JobsStatus)
    jobs = [JobRow(3, 0.5, "a", "u", "r", 1.0, 2.0, "all.q@a", 1, ""), JobRow(4, 0.5, "b", "u", "qw", 1.0, None, "",
                                                                             1, "")]
    snap = Snapshot(jobs, [QueueInstanceRow("all.q@a", "BIP", 0, 1, 2, 0.1, "lx-amd64", "")],
                    [_host("a", 0.1, np_load_avg="0.1", mem_free="1")], [ClusterQueueRow("all.q")], ["a"],
                    master.figures())
    ledger = Ledger(Path("/nonexistent"))
    ledger.owners["alice"] = OwnerTotals(1, 2.0, 3.0)
    families = [*cluster_families(snap), *accounting_families(ledger), *master_families(snap.master)]
    return {sample.name for family in families for sample in family.samples}


def test_the_grafana_dashboard_uses_only_metrics_restd_exports() -> None:
    import json
    import re

    dashboard = json.loads((Path(__file__).resolve().parents[2] / "conf" / "grafana-qsys.json").read_text())
    used = {name for panel in dashboard["panels"] for target in panel["targets"]
            for name in re.findall(r"\bqsys_[a-z_]+", target["expr"])}
    assert used and sorted(used - _exported_names()) == []
    assert not [p["title"] for p in dashboard["panels"] if "planned" in p["title"]]
    assert {"qsys_jobs", "qsys_queue_slots_used", "qsys_hosts", "qsys_exec_host_load",
            "qsys_accounting_cpu_seconds_total", "qsys_jobs_submitted_total", "qsys_dispatch_latency_seconds_bucket",
            "qsys_start_latency_seconds_bucket", "qsys_scheduling_pass_seconds_bucket",
            "qsys_store_commit_seconds_bucket", "qsys_dispatches_total", "qsys_submissions_total",
            "qsys_finishes_total"} <= used
