"""One exception tree for the whole system.

Every error a user can see is a :class:`QsysError` with an exit code; the master sends it
over the wire as (kind, message) and the client raises the same class again, so CLIs turn
errors into messages and exit codes in one place (``qsys.cli.common.run``).
"""

from __future__ import annotations


class QsysError(Exception):
    """Base of all errors with a user-facing message."""

    exit_code = 1
    kind = "error"

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(QsysError):
    """A bad command line option or argument (Grid Engine exits 2 for these)."""

    exit_code = 2
    kind = "usage"


class InvalidRequest(QsysError):
    """A request the master refuses as malformed (bad resource, unknown queue, ...)."""

    kind = "invalid"


class NotFound(QsysError):
    """A job, queue, host or object that does not exist."""

    kind = "not_found"


class PermissionDenied(QsysError):
    """The caller lacks the right for what it asked."""

    kind = "denied"


class AuthenticationError(QsysError):
    """The caller's identity could not be established."""

    kind = "auth"


class ConnectionFailed(QsysError):
    """The master (or an exec daemon) could not be reached."""

    kind = "connection"


class ProtocolError(QsysError):
    """A malformed or unexpected message on a link."""

    kind = "protocol"


class NotSchedulable(QsysError):
    """``-now y`` and the job cannot start at once."""

    kind = "not_schedulable"


class Verified(QsysError):
    """``-w v|p``: the job could run, and is not submitted (Grid Engine exits 0)."""

    exit_code = 0
    kind = "verified"


_KINDS: dict[str, type[QsysError]] = {
    cls.kind: cls
    for cls in (
        QsysError,
        UsageError,
        InvalidRequest,
        NotFound,
        PermissionDenied,
        AuthenticationError,
        ConnectionFailed,
        ProtocolError,
        NotSchedulable,
        Verified,
    )
}


def error_from_wire(kind: str, message: str) -> QsysError:
    """Rebuild the exception the other end raised."""
    return _KINDS.get(kind, QsysError)(message)
