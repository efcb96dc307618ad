"""The ASGI application of qsys-restd: the REST routes, the dashboard, ``/metrics``, and one
place that turns errors into JSON with a status code.

A QsysError keeps the message the command would print; its kind picks the status (usage and
invalid 400, auth 401, denied 403, not found 404, not schedulable 409, master unreachable
503). A request that fails validation changes nothing and gets 422 with what was wrong.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry
from starlette.exceptions import HTTPException

from qsys import auth
from qsys.errors import QsysError
from qsys.paths import Cell
from qsys.restd import api, dashboard, openapi
from qsys.restd.adapter import MasterAdapter
from qsys.restd.identity import monitor_caller
from qsys.restd.ledger import Ledger
from qsys.restd.metrics import registry_for
from qsys.restd.settings import Settings
from qsys.restd.view import ClusterView

log = logging.getLogger("qsys.restd")

STATUS_BY_KIND = {"usage": 400, "invalid": 400, "auth": 401, "denied": 403, "not_found": 404,
                  "not_schedulable": 409, "connection": 503, "protocol": 502, "error": 400}


@dataclass
class RestContext:
    """What every route reaches through ``request.app.state.restd``."""

    cell: Cell
    settings: Settings
    key: bytes
    master: MasterAdapter
    view: ClusterView
    registry: CollectorRegistry


def _error(message: str, status: int, **extra: Any) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="qsys"'} if status == 401 else None
    return JSONResponse({"error": message, **extra}, status_code=status, headers=headers)


def create_app(cell: Cell, settings: Settings) -> FastAPI:
    key = auth.load_key(cell.key_file)
    master = MasterAdapter(cell)
    view = ClusterView(master, Ledger(cell.accounting_file), monitor_caller(), settings.refresh)
    app = FastAPI(title="qsys-restd", version="1", docs_url=None, redoc_url=None,
                  description="The REST API of a qsys cell: jobs, array tasks, hosts, queues, accounting, "
                              "configuration. Over TCP every request carries a token from 'qsys token user' "
                              "(Authorization: Bearer); over the Unix socket the kernel names the caller.")
    app.state.restd = RestContext(cell, settings, key, master, view, registry_for(view))

    @app.exception_handler(QsysError)
    async def qsys_error(request: Request, exc: QsysError) -> JSONResponse:
        return _error(exc.message, STATUS_BY_KIND.get(exc.kind, 400), kind=exc.kind)

    @app.exception_handler(api.Refused)
    async def refused(request: Request, exc: api.Refused) -> JSONResponse:
        return _error("\n".join(exc.lines), exc.status, lines=exc.lines)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        return _error("invalid request: " + "; ".join(problems), 422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return _error(str(exc.detail), exc.status_code)

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return _error(f"internal error: {exc}", 500)

    app.include_router(api.router)

    @app.get("/metrics", tags=["monitoring"], response_class=Response)
    def metrics(who: api.Reader, request: Request) -> Response:
        """The cluster in Prometheus' text format."""
        return Response(generate_latest(request.app.state.restd.registry), media_type=CONTENT_TYPE_LATEST)

    app.include_router(dashboard.router)
    dashboard.mount_static(app)
    openapi.install(app)
    return app
