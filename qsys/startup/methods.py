"""Command methods: the client side when ``*_command`` is not builtin.

The configured command gets the convention's extra arguments, exactly (remote_startup(5)):

=========  ===============================================  ==========================
 method     used by                                          extra arguments
=========  ===============================================  ==========================
 qlogin     ``qlogin``                                       ``HOST PORT``
 rlogin     ``qrsh`` without a command                       ``-p PORT HOST``
 rsh        ``qrsh`` with a command (and ``qrsh -inherit``)  ``-n -p PORT HOST cmd...``
=========  ===============================================  ==========================

The setting may hold options of its own (``ssh -tt -o ...``): it is split like a shell line.
HOST is the session host's name when this host can resolve it, else its first address that
this host can route to.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from qsys.remote.addresses import resolves_to, routable


def target_host(host: str, addresses: Sequence[str]) -> str:
    """What the method's command connects to: the exec host's name when it leads to one of
    the addresses the session port listens on (what ssh checks host keys against), else
    the first of those addresses this host can route to. The port listens only on the
    address facing this client, which a multi-homed exec host's name may not resolve to."""
    if resolves_to(host, addresses):
        return host
    for address in addresses:
        if routable(address):
            return address
    return host


def command_argv(method: str, setting: str, host: str, port: int, command: Sequence[str] = ()) -> list[str]:
    """The argv to run for ``method`` with the configured ``setting``."""
    import shlex  # not at import: a builtin qrsh never splits a method's command

    base = shlex.split(setting)
    if not base:
        raise ValueError(f"empty {method}_command")
    if method == "qlogin":
        return [*base, host, str(port)]
    if method == "rlogin":
        return [*base, "-p", str(port), host]
    if method == "rsh":
        return [*base, "-n", "-p", str(port), host, *command]
    raise ValueError(f"unknown startup method {method!r}")


def exec_command(argv: list[str]) -> None:
    """Become the command (its exit status is then ours); OSError when it cannot run."""
    os.execvp(argv[0], argv)
