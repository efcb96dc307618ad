"""restd's OpenAPI description names its answers by the schemas of ``qsys.schemas``.

Routes answer ``qsys.records.json_form`` of typed records, not pydantic models, so each route
says which published schema its answer has (:func:`returns`) and :func:`install` puts every
schema under ``components.schemas``: the description, the commands' ``--json`` and the
answers are made from the same records.
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


def install(app: FastAPI) -> None:
    """Describe the app with the published schemas among its components."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version, description=app.description,
                              routes=app.routes)
            doc.setdefault("components", {}).setdefault("schemas", {}).update(schemas.components(REF))
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
