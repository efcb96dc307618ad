"""Detach a daemon from its terminal (double fork) and keep a pid file; no init system needed."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from qsys.logfile import LineFileHandler


def daemonize(pid_file: Path) -> None:
    """Fork into the background; the parent returns only in the grandchild."""
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    write_pid(pid_file)


def write_pid(pid_file: Path) -> None:
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = pid_file.with_suffix(".tmp")
    tmp.write_text(f"{os.getpid()}\n")
    tmp.replace(pid_file)


def run(pid_file: Path, log_file: Path, foreground: bool, main: Callable[[], Coroutine[Any, Any, int | None]],
        log: logging.Logger) -> int:
    """A daemon's life: detached (double fork) unless ``foreground``, the pid file written, the
    log set up, ``main()`` run to its end (its exit code, 0 for None; an exception is logged:
    exit code 1, a QsysError in one line), the pid file removed if it still names this
    process (a successor may own it)."""
    import asyncio

    from qsys.errors import QsysError

    if foreground:
        write_pid(pid_file)
    else:
        daemonize(pid_file)
    setup_logging(log_file, foreground)
    try:
        return asyncio.run(main()) or 0
    except QsysError as exc:
        log.error("%s", exc)
        return 1
    except Exception:
        log.exception("%s failed", log.name)
        return 1
    finally:
        try:
            if pid_file.read_text().strip() == str(os.getpid()):
                pid_file.unlink()
        except OSError:
            pass


def setup_logging(log_file: Path, foreground: bool, level: int = logging.INFO) -> None:
    """Log to ``log_file`` (mode 0600: it names jobs, users and hosts), and to stderr in the
    foreground; every line bounded and repeats rate-limited (:mod:`qsys.logbounds`)."""
    from qsys.logbounds import BoundedFormatter, RateLimit

    log_file.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
    os.chmod(log_file, 0o600)
    handlers: list[logging.Handler] = [LineFileHandler(log_file, 0o600)]  # whole lines, also on a full disk
    if foreground:
        handlers.append(logging.StreamHandler(sys.stderr))
    limit = RateLimit()
    for handler in handlers:
        handler.setFormatter(BoundedFormatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        handler.addFilter(limit)
    logging.basicConfig(level=level, handlers=handlers, force=True)
