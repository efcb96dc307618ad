"""The command lines of a PE's ``start_proc_args`` and ``stop_proc_args``.

Grid Engine replaces these words in them before it runs them (as the job owner, in the
master task's shepherd, with the job's environment): ``$pe_hostfile``, ``$host``,
``$job_owner``, ``$job_id``, ``$job_name``, ``$pe``, ``$pe_slots``, ``$processors``, ``$queue``.
"""

from __future__ import annotations

import re

from qsys.launch import Launch

_WORD = re.compile(r"\$(pe_hostfile|pe_slots|processors|job_owner|job_name|job_id|host|queue|pe)\b")


def substitutions(launch: Launch, env: dict[str, str]) -> dict[str, str]:
    processors = launch.hosts[0].processors if launch.hosts else "UNDEFINED"
    return {
        "pe_hostfile": env.get("PE_HOSTFILE", ""),
        "host": launch.host,
        "job_owner": launch.owner,
        "job_id": str(launch.job_id),
        "job_name": env.get("JOB_NAME", ""),
        "pe": launch.pe or "",
        "pe_slots": str(launch.total_slots),
        "processors": processors,
        "queue": launch.queue,
    }


def pe_command(template: str, launch: Launch, env: dict[str, str]) -> str:
    """``template`` with Grid Engine's ``$`` words replaced (other ``$`` text is left to the shell)."""
    values = substitutions(launch, env)
    return _WORD.sub(lambda m: values[m.group(1)], template)
