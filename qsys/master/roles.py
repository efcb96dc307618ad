"""Who may do what: managers configure, operators manage queues and all jobs, and TCP
clients must call from an admin host (to configure) or a submit host (to submit).

Unix-socket clients are on the master host, which is always both. Every refusal names who
lacked which right, in Grid Engine's words.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qsys.errors import PermissionDenied

if TYPE_CHECKING:
    from qsys.master.core import Master
    from qsys.master.identity import Identity


def require_manager(master: Master, who: Identity) -> None:
    """Configuration changes: a manager on an admin host."""
    if not who.manager:
        raise PermissionDenied(f'denied: "{who.user}" must be manager for this operation')
    require_admin_host(master, who)


def is_admin_host(master: Master, host: str) -> bool:
    return host == master.host_name or host in master.config.admin_hosts


def require_admin_host(master: Master, who: Identity) -> None:
    if not is_admin_host(master, who.host):
        raise PermissionDenied(f'denied: host "{who.host}" is no admin host')


def require_submit_host(master: Master, who: Identity) -> None:
    """Submissions come from a submit host (an admin host may submit too)."""
    host = who.host
    if not (is_admin_host(master, host) or host in master.config.submit_hosts):
        raise PermissionDenied(f'denied: host "{host}" is no submit host')
