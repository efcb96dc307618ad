"""``python -m qsys.drmaa.helper FD``: the process behind libdrmaa.so's DRMAA session.

libdrmaa.c starts it at ``drmaa_init`` with one end of a control socket pair as ``FD``.
Over the control socket the library passes a new connected socket (SCM_RIGHTS) whenever one
of its threads needs a connection of its own; each is served by a thread here, one request
and reply at a time (``wire``). When the control socket closes (drmaa_exit, or the program
ended) the helper ends; its jobs run on.
"""

from __future__ import annotations

import os
import pwd
import socket
import sys
import threading
from collections.abc import Callable

from qsys.drmaa import template, wire
from qsys.drmaa.backend import Backend
from qsys.drmaa.codes import Control, DrmaaError, Errno
from qsys.drmaa.session import Session
from qsys.drmaa.template import Caller
from qsys.errors import ConnectionFailed, QsysError

Handler = Callable[["Helper", list[str]], list[str]]
class Helper:
    """The session (after ``init``) and the table from request to handler."""

    def __init__(self) -> None:
        self._session: Session | None = None
        self._lock = threading.Lock()

    @property
    def session(self) -> Session:
        if self._session is None:
            raise DrmaaError(Errno.NO_ACTIVE_SESSION)
        return self._session

    def serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                while (request := wire.read_message(conn)) is not None:
                    wire.write_message(conn, self.answer(request))
            except (OSError, ValueError):
                pass  # the library closed the connection, or sent garbage

    def answer(self, request: list[str]) -> list[str]:
        """``[code, diagnosis, results...]`` for one request."""
        try:
            handler = HANDLERS.get(request[0] if request else "")
            if handler is None:
                raise DrmaaError(Errno.INTERNAL_ERROR, f"unknown request {request[:1]}")
            return ["0", "", *handler(self, request[1:])]
        except DrmaaError as exc:
            return [str(int(exc.code)), exc.diagnosis, *exc.values]
        except ConnectionFailed as exc:
            return [str(int(Errno.DRM_COMMUNICATION_FAILURE)), exc.message]
        except QsysError as exc:
            return [str(int(Errno.INTERNAL_ERROR)), exc.message]
        except Exception as exc:  # a bug here must not kill the caller's session
            return [str(int(Errno.INTERNAL_ERROR)), f"{type(exc).__name__}: {exc}"]


def _caller(cwd: str, environ: list[str]) -> Caller:
    env = dict(item.split("=", 1) for item in environ if "=" in item)
    try:
        home = pwd.getpwuid(os.getuid()).pw_dir
    except KeyError:
        home = env.get("HOME", "/")
    return Caller(cwd=cwd, environ=env, home=home)


# --------------------------------------------------------------------------- session


def _init(helper: Helper, args: list[str]) -> list[str]:
    contact = args[0] if args else ""
    if contact and not contact.startswith("session="):
        raise DrmaaError(Errno.INVALID_CONTACT_STRING, f'invalid contact string "{contact}"')
    with helper._lock:
        if helper._session is not None:
            raise DrmaaError(Errno.ALREADY_ACTIVE_SESSION)
        backend = Backend()
        backend.connect()
        helper._session = Session(backend)
    return []


def _contact(helper: Helper, args: list[str]) -> list[str]:
    return [helper.session.contact]


# --------------------------------------------------------------------------- job templates


def _jt_new(helper: Helper, args: list[str]) -> list[str]:
    return [str(helper.session.new_template())]


def _jt_delete(helper: Helper, args: list[str]) -> list[str]:
    helper.session.delete_template(int(args[0]))
    return []


def _jt_set(helper: Helper, args: list[str]) -> list[str]:
    helper.session.template(int(args[0])).set(args[1], args[2])
    return []


def _jt_get(helper: Helper, args: list[str]) -> list[str]:
    return [helper.session.template(int(args[0])).get(args[1])]


def _jt_set_vector(helper: Helper, args: list[str]) -> list[str]:
    helper.session.template(int(args[0])).set_vector(args[1], args[2:])
    return []


def _jt_get_vector(helper: Helper, args: list[str]) -> list[str]:
    return helper.session.template(int(args[0])).get_vector(args[1])


def _names(helper: Helper, args: list[str]) -> list[str]:
    return list(template.SCALAR_ATTRIBUTES)


def _vector_names(helper: Helper, args: list[str]) -> list[str]:
    return list(template.VECTOR_ATTRIBUTES)


# --------------------------------------------------------------------------- jobs


def _run(helper: Helper, args: list[str]) -> list[str]:
    return helper.session.run(int(args[0]), _caller(args[1], args[2:]))


def _run_bulk(helper: Helper, args: list[str]) -> list[str]:
    bulk = (int(args[1]), int(args[2]), int(args[3]))
    return helper.session.run(int(args[0]), _caller(args[4], args[5:]), bulk)


def _control(helper: Helper, args: list[str]) -> list[str]:
    try:
        action = Control(int(args[1]))
    except ValueError:
        raise DrmaaError(Errno.INVALID_ARGUMENT, f"invalid control action {args[1]}") from None
    helper.session.control(args[0], action)
    return []


def _job_ps(helper: Helper, args: list[str]) -> list[str]:
    return [str(int(helper.session.job_ps(args[0])))]


def _wait(helper: Helper, args: list[str]) -> list[str]:
    job_id, outcome = helper.session.wait(args[0], int(args[1]))
    if outcome.rusage is None:
        raise DrmaaError(Errno.NO_RUSAGE, "", [job_id, str(outcome.stat)])
    return [job_id, str(outcome.stat), *outcome.rusage]


def _sync(helper: Helper, args: list[str]) -> list[str]:
    helper.session.synchronize(args[2:], int(args[0]), args[1] == "1")
    return []


# the library's requests, by the operation name libdrmaa.c sends
HANDLERS: dict[str, Handler] = {
    "init": _init,
    "contact": _contact,
    "jt_new": _jt_new,
    "jt_delete": _jt_delete,
    "jt_set": _jt_set,
    "jt_get": _jt_get,
    "jt_set_vector": _jt_set_vector,
    "jt_get_vector": _jt_get_vector,
    "names": _names,
    "vector_names": _vector_names,
    "run": _run,
    "run_bulk": _run_bulk,
    "control": _control,
    "job_ps": _job_ps,
    "wait": _wait,
    "sync": _sync,
}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    control = socket.socket(fileno=int(args[0]))
    helper = Helper()
    while True:
        try:
            data, fds, _flags, _addr = socket.recv_fds(control, 16, 8)
        except OSError:
            break
        if not data and not fds:
            break  # drmaa_exit, or the program ended
        for fd in fds:
            threading.Thread(target=helper.serve, args=(socket.socket(fileno=fd),), daemon=True).start()
    os._exit(0)  # threads still blocked in a wait end with the session


if __name__ == "__main__":
    sys.exit(main())
