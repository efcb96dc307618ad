"""qsys-restd under generated requests: schemathesis walks every operation of its own
/openapi.json (valid and invalid bodies, parameters, paths), hypothesis sends made-up
Authorization headers and bodies; every answer is below 500, has a status, content type and
body the description documents, and every refusal is JSON with the reason. Bounded: QSYS_FUZZ_EXAMPLES examples per operation and test (default 8; schemathesis
makes each valid or, as often, invalid for the schema).

The caller is an ordinary user of a service-mode cluster whose only queue is disabled, so a
generated job never runs and a generated configuration change is refused (403), both as JSON.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.clusterlib import Cluster
from tests.restlib import Restd

EXAMPLES = int(os.environ.get("QSYS_FUZZ_EXAMPLES", "8"))
FUZZ_SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                         suppress_health_check=list(HealthCheck))


# below 500, and what the description says: a documented status, content type and body
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def fuzzed(users: tuple[str, str]) -> Iterator[tuple[Restd, str]]:
    """restd of a service-mode cell with its queue disabled, and an ordinary user's token."""
    root = Path(tempfile.mkdtemp(prefix="qsys-test-", dir="/tmp"))  # every test user can traverse it
    os.chmod(root, 0o755)
    try:
        with Cluster(root / "cell", hosts=["node1"], slots=2, mode="service") as cluster:
            cluster.run("qmod", "-d", "all.q", check=True)
            with Restd(cluster) as restd:
                yield restd, restd.token(users[0])
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _refusal_is_json(response: Any) -> None:
    if response.status_code >= 400:
        assert response.headers.get("content-type", [""])[0].startswith("application/json"), response.text
        body = response.json()
        assert isinstance(body, dict) and body.get("error"), response.text


def test_every_operation_answers_generated_requests_below_500(fuzzed: tuple[Restd, str]) -> None:
    restd, token = fuzzed
    schema = schemathesis.openapi.from_url(f"{restd.address}/openapi.json")
    schema.config.update(base_url=restd.address)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20, "every route of the API is fuzzed"
    calls: dict[str, int] = {}
    statuses: dict[int, int] = {}

    for operation in operations:
        @FUZZ_SETTINGS
        @given(case=st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                              operation.as_strategy(GenerationMode.NEGATIVE)))
        def answers(case: Any) -> None:
            response = case.call(headers={"Authorization": f"Bearer {token}"}, timeout=60)
            calls[case.operation.label] = calls.get(case.operation.label, 0) + 1
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            case.validate_response(response, checks=CHECKS)
            _refusal_is_json(response)

        answers()
    assert set(calls) == {op.label for op in operations}
    print(f"fuzzed {len(operations)} operations, {sum(calls.values())} requests, answers {sorted(statuses.items())}")


# made-up tokens and bodies, through the routes that read and the ones that change
ROUTES = [("GET", "/api/v1/jobs"), ("GET", "/api/v1/summary"), ("GET", "/metrics"), ("GET", "/api/v1/jobs/1"),
          ("POST", "/api/v1/jobs"), ("DELETE", "/api/v1/jobs/1"), ("PATCH", "/api/v1/jobs/1"),
          ("POST", "/api/v1/jobs/1/hold"), ("PATCH", "/api/v1/config/queue"), ("POST", "/api/v1/tokens")]
HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7e), max_size=120)
TOKENS = st.one_of(HEADER_TEXT, HEADER_TEXT.map(lambda t: "qsys1." + t),
                   st.tuples(st.binary(max_size=40), st.binary(max_size=40)).map(
                       lambda p: f"qsys1.{p[0].hex()}.{p[1].hex()}"))


@FUZZ_SETTINGS
@given(route=st.sampled_from(ROUTES), scheme=st.sampled_from(["Bearer ", "bearer ", "Basic ", "", "Bearer"]),
       token=TOKENS)
def test_a_made_up_authorization_is_401_json(fuzzed: tuple[Restd, str], route: tuple[str, str], scheme: str,
                                             token: str) -> None:
    restd, _ = fuzzed
    method, path = route
    reply = restd.tcp(method, path, headers={"Authorization": f"{scheme}{token}".strip() or "x"},
                      body={"command": ["/bin/true"]} if method != "GET" else None)
    assert reply.status == 401, (route, scheme, token, reply)
    assert reply.headers["content-type"] == "application/json" and reply.json["error"], reply
    assert reply.headers["www-authenticate"].startswith("Bearer")


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                                 max_size=4), max_leaves=12)


@FUZZ_SETTINGS
@given(route=st.sampled_from([r for r in ROUTES if r[0] != "GET"]), body=st.one_of(JSON, st.binary(max_size=60)))
def test_made_up_bodies_are_4xx_json_or_accepted(fuzzed: tuple[Restd, str], route: tuple[str, str],
                                                 body: Any) -> None:
    restd, token = fuzzed
    method, path = route
    raw = body if isinstance(body, bytes) else None
    reply = restd.tcp(method, path, token, None if raw is not None else body, raw=raw,
                      headers={"Content-Type": "application/json"})
    assert reply.status < 500, (route, body, reply)
    if reply.status >= 400:
        assert reply.headers["content-type"] == "application/json" and reply.json["error"], reply


def test_the_fuzzed_cluster_ran_nothing_and_kept_its_configuration(fuzzed: tuple[Restd, str]) -> None:
    """After the fuzz: the queue is still disabled and the same size, no job started."""
    restd, _ = fuzzed
    root = restd.token("root")
    queue = restd.tcp("GET", "/api/v1/config/queue?name=all.q", root).json
    assert queue["data"]["slots"] == "2"
    assert [qi["states"] for qi in restd.tcp("GET", "/api/v1/queues", root).json["instances"]] == ["d"]
    assert restd.tcp("GET", "/api/v1/jobs?state=running", root).json == []
    assert restd.tcp("GET", "/api/v1/accounting", root).status == 404, "no task ended: no accounting file yet"
