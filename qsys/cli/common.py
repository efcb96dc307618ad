"""What every command shares: turning errors into messages and exit codes in one place."""

from __future__ import annotations

import os
import sys

from qsys.errors import QsysError

TYPE_CHECKING = False
if TYPE_CHECKING:  # collections costs a command 2 ms at run time
    from collections.abc import Callable


def run(program: str, body: Callable[[list[str]], int], argv: list[str] | None = None) -> int:
    """Run a command's body; every failure becomes one line on stderr and an exit code: a
    QsysError its message and code, anything else (a bug, an unforeseen OS error) one line
    naming it and exit code 1 (``QSYS_DEBUG=1`` shows the traceback instead)."""
    args = sys.argv[1:] if argv is None else argv
    for stream in (sys.stdout, sys.stderr):  # bytes that are not UTF-8 go out as they came in
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="surrogateescape")
    try:
        code = body(args)
    except QsysError as exc:
        if exc.message:
            print(exc.message, file=sys.stderr)
        code = exc.exit_code
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:
        return 0
    except Exception as exc:
        if os.environ.get("QSYS_DEBUG"):
            raise
        print(f"error: {program}: {_describe(exc)}", file=sys.stderr)
        code = 1
    if argv is None:
        _exit_now(code)
    return code


def _describe(exc: BaseException) -> str:
    """One line for an unexpected exception."""
    if isinstance(exc, OSError) and exc.strerror:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror}{where}"
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__


def _exit_now(code: int) -> None:
    """End a command without the interpreter's teardown (module cleanup costs ~5 ms)."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        pass
    os._exit(code)


def write(text: str) -> None:
    """Print command output (already formatted, may be empty)."""
    if text:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
