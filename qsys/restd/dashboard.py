"""The web dashboard: pages (``static/pages/``, each one's sections, put into
``static/layout.html``) and one script that reads the REST API and polls it for live updates;
no build step, no outside resources.

A browser speaks TCP, so it needs a token: ``/login?token=...`` (the address ``qsys up
--rest`` prints) or the sign-in form keeps it in an HttpOnly, SameSite=Strict cookie the API
reads as it reads a bearer token. The pages themselves hold no data and need no token.
"""

from __future__ import annotations

import functools
import re
import time
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from qsys import auth
from qsys.restd.identity import COOKIE

STATIC = Path(__file__).resolve().parent / "static"

router = APIRouter(include_in_schema=False)
PAGES = {"/": "index.html", "/hosts": "hosts.html", "/me": "me.html"}


@functools.cache
def _html(name: str) -> str:
    """A page: its sections in the shared layout (its first line names title and page)."""
    text = (STATIC / "pages" / name).read_text()
    found = re.match(r"<!-- title: (.*?); page: (\w+) -->\n", text)
    assert found, f"{name} lacks its title line"
    layout = (STATIC / "layout.html").read_text()
    return (layout.replace("@TITLE@", found.group(1)).replace("@PAGE@", found.group(2))
            .replace("@BODY@", text[found.end():]))


def _page(name: str) -> HTMLResponse:
    return HTMLResponse(_html(name), headers={"Cache-Control": "no-cache"})


def _make_page_route(path: str, name: str) -> None:
    def page() -> HTMLResponse:
        return _page(name)

    router.add_api_route(path, page, methods=["GET"], response_class=HTMLResponse)


for _path, _name in PAGES.items():
    _make_page_route(_path, _name)


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(job_id: int) -> HTMLResponse:
    return _page("job.html")


def _signed_in(request: Request, token: str) -> Response:
    _uid, _user, expires = auth.verify_user_token(request.app.state.restd.key, token.strip())
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(COOKIE, token.strip(), max_age=max(1, int(expires - time.time())), httponly=True,
                        samesite="strict", path="/")
    return response


@router.get("/login")
def login_link(request: Request, token: Annotated[str | None, Query()] = None) -> Response:
    """``/login?token=T`` signs the browser in; without a token, the sign-in form."""
    if token is None:
        return _page("login.html")
    return _signed_in(request, token)


class SignIn(BaseModel):
    token: str


@router.post("/login")
def login_form(request: Request, body: SignIn) -> Response:
    """The sign-in form's request (JSON, so the token stays out of addresses and logs)."""
    return _signed_in(request, body.token)


@router.post("/logout")
def logout() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


def mount_static(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
