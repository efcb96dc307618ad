"""A real Prometheus (Debian's prometheus package) scrapes qsys-restd's /metrics with a token
from ``qsys token user``; promtool finds nothing to say about the metrics' names, and every
expression of the sample Grafana dashboard (conf/grafana-qsys.json) is a query Prometheus
answers with data."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.clusterlib import REPO, Cluster, wait_until
from tests.restlib import Restd

PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Prometheus:
    """A Prometheus server on loopback scraping one target every second."""

    def __init__(self, workdir: Path, target: str, token: str) -> None:
        self.workdir = workdir
        self.port = _free_port()
        config = workdir / "prometheus.yml"
        config.write_text(json.dumps({  # YAML is a superset of JSON
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [{"job_name": "qsys", "metrics_path": "/metrics",
                                "authorization": {"type": "Bearer", "credentials": token},
                                "static_configs": [{"targets": [target]}]}]}))
        checked = subprocess.run([PROMTOOL, "check", "config", str(config)], capture_output=True, text=True,
                                 timeout=60)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        self.log = open(workdir / "prometheus.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen([PROMETHEUS, f"--config.file={config}",
                                      f"--storage.tsdb.path={workdir / 'data'}",
                                      f"--web.listen-address=127.0.0.1:{self.port}"],
                                     stdout=self.log, stderr=self.log)

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector of ``expr`` (an AssertionError with Prometheus' reason if it refuses)."""
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        try:
            with urllib.request.urlopen(url, timeout=10) as reply:
                answer = json.load(reply)
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{expr}: {exc.read().decode()}") from None
        assert answer["status"] == "success", (expr, answer)
        return list(answer["data"]["result"])

    def answers(self, expr: str) -> list[dict[str, Any]] | None:
        if self.proc.poll() is not None:
            raise AssertionError(f"prometheus exited: {(self.workdir / 'prometheus.log').read_text()[-2000:]}")
        try:
            return self.query(expr) or None
        except (OSError, AssertionError):
            return None

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.log.close()


@pytest.fixture
def restd(cluster: Cluster) -> Iterator[Restd]:
    with Restd(cluster) as r:
        yield r


@pytest.fixture
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="qsys-prometheus-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _value(result: list[dict[str, Any]]) -> float:
    assert len(result) == 1, result
    return float(result[0]["value"][1])


def test_promtool_finds_the_metric_names_well_formed(restd: Restd) -> None:
    assert Path(PROMTOOL).exists(), "apt-get install prometheus (promtool)"
    token = restd.token()
    reply = restd.tcp("POST", "/api/v1/jobs", token, {"command": ["/bin/true"]})
    assert reply.status == 201, reply
    wait_until(lambda: "qsys_finishes_total 1.0" in restd.tcp("GET", "/metrics", token).body.decode(), 30,
               "the job's end in /metrics")
    text = restd.tcp("GET", "/metrics", token).body
    lint = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, timeout=60)
    assert (lint.returncode, lint.stdout + lint.stderr) == (0, b""), lint


def test_prometheus_scrapes_restd_and_answers_the_grafana_dashboards_queries(restd: Restd,
                                                                              workdir: Path) -> None:
    assert Path(PROMETHEUS).exists(), "apt-get install prometheus"
    token = restd.token()
    reply = restd.tcp("POST", "/api/v1/jobs", token, {"command": ["/bin/true"], "options": ["-N", "scraped"]})
    assert reply.status == 201, reply
    target = restd.address.removeprefix("http://")
    prometheus = Prometheus(workdir, target, token)
    try:
        up = wait_until(lambda: prometheus.answers('up{job="qsys"} == 1'), 60, "prometheus to scrape restd")
        assert up[0]["metric"]["instance"] == target
        # three scrapes after the job's end: every rate() has two samples of the same value or more
        wait_until(lambda: prometheus.answers("count_over_time(qsys_finishes_total[5m]) >= 3 "
                                              "and qsys_finishes_total == 1"), 60, "scrapes after the job's end")
        assert _value(prometheus.query('qsys_hosts{state="up"}')) == 1
        assert _value(prometheus.query('qsys_queue_slots{queue="all.q",host="node1"}')) == 4
        assert _value(prometheus.query("qsys_submissions_total")) == 1
        assert _value(prometheus.query('qsys_accounting_tasks_total{owner="root"}')) == 1
        assert _value(prometheus.query("qsys_dispatch_latency_seconds_count")) == 1

        dashboard = json.loads((REPO / "conf" / "grafana-qsys.json").read_text())
        exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
        assert len(exprs) >= 20
        empty = [expr for expr in exprs if not prometheus.query(expr)]
        assert empty == [], "every panel has data"
    finally:
        prometheus.stop()
