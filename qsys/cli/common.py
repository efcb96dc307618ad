"""What every command shares: turning errors into messages and exit codes in one place."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from qsys.errors import QsysError


def run(program: str, body: Callable[[list[str]], int], argv: list[str] | None = None) -> int:
    """Run a command's body; a QsysError becomes its message on stderr and its exit code."""
    args = sys.argv[1:] if argv is None else argv
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
    if argv is None:
        _exit_now(code)
    return code


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
