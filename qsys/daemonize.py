"""Detach a daemon from its terminal (double fork) and keep a pid file; no init system needed."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

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


def setup_logging(log_file: Path, foreground: bool, level: int = logging.INFO) -> None:
    log_file.parent.mkdir(parents=True, exist_ok=True)
    handlers: list[logging.Handler] = [LineFileHandler(log_file)]  # whole lines, also on a full disk
    if foreground:
        handlers.append(logging.StreamHandler(sys.stderr))
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        handlers=handlers,
        force=True,
    )
