"""restd's OpenAPI description names its answers by the schemas of ``qsys.schemas``.

Routes answer ``qsys.records.json_form`` of typed records, not pydantic models, so each route
says which published schema its answer has (:func:`returns`) and :func:`install` puts every
schema under ``components.schemas``: the description, the commands' ``--json`` and the
answers are made from the same records. Errors are described as what restd sends: the
``Error`` object (``qsys.restd.app``).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from qsys import schemas

REF = schemas.OPENAPI_REFS


def ref(name: str) -> dict[str, Any]:
    return {"$ref": REF + name}


def array_of(name: str) -> dict[str, Any]:
    return {"type": "array", "items": ref(name)}


def returns(schema: str | dict[str, Any], *, many: bool = False, status: int = 200,
            description: str = "") -> dict[str, Any]:
    """The route arguments that describe its answer: a published schema by name (``many``: an
    array of them) or a schema of its own made of them."""
    if isinstance(schema, str):
        body = array_of(schema) if many else ref(schema)
    else:
        body = schema
    return {"response_model": None, "status_code": status,
            "responses": {status: {"description": description or "Successful Response",
                                   "content": {"application/json": {"schema": body}}}}}


# what restd answers instead of a result (qsys.restd.app): the message the command would print
ERROR = {"type": "object", "required": ["error"], "properties": {
    "error": {"type": "string", "description": "the reason, in the command's words"},
    "kind": {"type": "string", "description": "the error's kind (usage, invalid, auth, denied, not_found, ...)"},
    "lines": {"type": "array", "items": {"type": "string"}, "description": "a refusing command's lines"}}}
ERROR_STATUSES = {400: "Bad request: the command would refuse it (usage, invalid values)",
                  401: "No identity: no token, or a malformed, forged or expired one",
                  403: "Denied: the master (or restd) refuses this caller",
                  404: "No such job, host or object", 409: "The job cannot be scheduled",
                  422: "The request does not have the shape this description gives",
                  502: "The master answered something restd did not expect",
                  503: "The master cannot be reached"}
METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _describe_errors(doc: dict[str, Any]) -> None:
    """Every operation's error answers as the ``Error`` object restd sends (FastAPI would
    describe its own 422 body, which restd replaces), the bearer token as the security scheme,
    /metrics as Prometheus' text format."""
    components = doc.setdefault("components", {})
    components["schemas"]["Error"] = ERROR
    for name in ("HTTPValidationError", "ValidationError"):
        components["schemas"].pop(name, None)
    components["securitySchemes"] = {"bearer": {
        "type": "http", "scheme": "bearer",
        "description": "a token from 'qsys token user' (over restd's Unix socket the kernel names the caller)"}}
    doc["security"] = [{"bearer": []}]
    for path, operations in doc["paths"].items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status, description in ERROR_STATUSES.items():
                responses[str(status)] = {"description": description,
                                          "content": {"application/json": {"schema": ref("Error")}}}
            if path == "/metrics":
                responses["200"] = {"description": "The cluster in Prometheus' text format",
                                    "content": {METRICS_TYPE: {"schema": {"type": "string"}}}}


def install(app: FastAPI) -> None:
    """Describe the app with the published schemas among its components."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version, description=app.description,
                              routes=app.routes)
            doc.setdefault("components", {}).setdefault("schemas", {}).update(schemas.components(REF))
            _describe_errors(doc)
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
