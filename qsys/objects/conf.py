"""Global and host-local configuration (``qconf -sconf [host]``).

One class for both: every attribute may be unset (``None``); the global configuration sets
them all, a host's local one only what it overrides, and only set attributes are printed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qsys.objects.base import ConfigObject, attr, to_wire
from qsys.objects.layout import KeyValueLayout
from qsys.objects.values import Bool, Choice, Duration, Int, NameValues, Text, TimeValue, ValueType, WordList

_T = TimeValue()
_LIST = WordList(sep=",", word="none")


def _opt(vtype: ValueType[Any]) -> Any:
    """An attribute that is unset (None) unless the configuration gives it."""
    return attr(vtype, None)


class GidRange(Text):
    """``first-last`` (or one number) of extra group IDs that mark a job's processes."""

    def parse(self, text: str) -> str:
        first, _, last = text.partition("-")
        if not first.isdigit() or (last and not last.isdigit()) or (last and int(last) < int(first)):
            raise ValueError(f"'{text}' is not a range of group IDs (first-last)")
        return text


@dataclass
class Conf(ConfigObject):
    kind = "conf"
    key = "name"
    sparse = True
    layout = KeyValueLayout(width=29, header=True, trailer="\n")

    name: str = "global"
    execd_spool_dir: str | None = _opt(Text())
    mailer: str | None = _opt(Text())
    xterm: str | None = _opt(Text())
    load_sensor: str | None = _opt(Text())
    prolog: str | None = _opt(Text())
    epilog: str | None = _opt(Text())
    shell_start_mode: str | None = _opt(Choice("posix_compliant", "unix_behavior", "script_from_stdin"))
    login_shells: list[str] | None = _opt(_LIST)
    min_uid: int | None = _opt(Int())
    min_gid: int | None = _opt(Int())
    user_lists: list[str] | None = _opt(_LIST)
    xuser_lists: list[str] | None = _opt(_LIST)
    projects: list[str] | None = _opt(_LIST)
    xprojects: list[str] | None = _opt(_LIST)
    enforce_project: bool | None = _opt(Bool(upper=False))
    enforce_user: str | None = _opt(Choice("true", "false", "auto"))
    load_report_time: Duration | None = _opt(_T)
    max_unheard: Duration | None = _opt(_T)
    reschedule_unknown: Duration | None = _opt(_T)
    loglevel: str | None = _opt(Choice("log_crit", "log_err", "log_warning", "log_notice", "log_info", "log_debug"))
    administrator_mail: str | None = _opt(Text())
    set_token_cmd: str | None = _opt(Text())
    pag_cmd: str | None = _opt(Text())
    token_extend_time: str | None = _opt(Text())
    shepherd_cmd: str | None = _opt(Text())
    qmaster_params: str | None = _opt(Text())
    execd_params: str | None = _opt(Text())
    reporting_params: dict[str, str] | None = _opt(NameValues(sep=" ", word="none"))
    finished_jobs: int | None = _opt(Int())
    # Open Cluster Scheduler 9.2's: how long a finished job stays in qstat -s z/f (unset: no limit)
    finished_jobs_keep_time: Duration | None = _opt(_T)
    gid_range: str | None = _opt(GidRange())
    qlogin_command: str | None = _opt(Text())
    qlogin_daemon: str | None = _opt(Text())
    rlogin_command: str | None = _opt(Text())
    rlogin_daemon: str | None = _opt(Text())
    rsh_command: str | None = _opt(Text())
    rsh_daemon: str | None = _opt(Text())
    max_aj_instances: int | None = _opt(Int())
    max_aj_tasks: int | None = _opt(Int())
    max_u_jobs: int | None = _opt(Int())
    max_jobs: int | None = _opt(Int())
    auto_user_oticket: int | None = _opt(Int())
    auto_user_fshare: int | None = _opt(Int())
    auto_user_default_project: str | None = _opt(Text())
    auto_user_delete_time: int | None = _opt(Int())
    delegated_file_staging: bool | None = _opt(Bool(upper=False))
    reprioritize: int | None = _opt(Int())
    jsv_url: str | None = _opt(Text())
    jsv_allowed_mod: list[str] | None = _opt(_LIST)
    # qsys additions (printed only when set): the exec daemon's identity-switch policy
    execd_identity: str | None = _opt(Choice("switch", "log_only", "proxy"))
    proxy_account: str | None = _opt(Text())
    execd_allow_users: list[str] | None = _opt(_LIST)
    execd_deny_users: list[str] | None = _opt(_LIST)

    def check(self) -> None:
        if not self.name or any(c in self.name for c in " \t,@[]=/:"):
            raise ValueError(f"name: '{self.name}' is not a host name or global")
        if self.gid_range is not None and self.gid_range.partition("-")[0] == "0":
            raise ValueError("gid_range: group ID 0 may not mark jobs")


def default_global_config() -> Conf:
    """The global configuration of a new cell: qconf_sconf.txt except where marked (qsys)."""
    return Conf(
        name="global",
        execd_spool_dir="default",  # qsys: <cell>/spool/<host> (SGE: /var/spool/gridengine/execd)
        mailer="/usr/bin/mail",
        xterm="/usr/bin/xterm",
        load_sensor="none", prolog="none", epilog="none",
        shell_start_mode="posix_compliant",
        login_shells=["bash", "sh", "ksh", "csh", "tcsh"],
        min_uid=1000, min_gid=1000,  # a personal cluster's bootstrap lowers them to 0
        user_lists=[], xuser_lists=[], projects=[], xprojects=[],
        enforce_project=False, enforce_user="auto",
        load_report_time=Duration.parse("00:00:10"),  # qsys: 10 s (SGE: 00:00:40)
        max_unheard=Duration.parse("00:05:00"),
        reschedule_unknown=Duration.parse("00:00:00"),
        loglevel="log_warning",
        administrator_mail="root",
        set_token_cmd="none", pag_cmd="none", token_extend_time="none", shepherd_cmd="none",
        qmaster_params="none", execd_params="none",
        reporting_params={"accounting": "true", "reporting": "false", "flush_time": "00:00:15",
                          "joblog": "false", "sharelog": "00:00:00"},
        finished_jobs=100,
        gid_range="20000-20100",  # qsys (SGE: 65400-65500)
        qlogin_command="builtin", qlogin_daemon="builtin",
        rlogin_command="builtin", rlogin_daemon="builtin",
        rsh_command="builtin", rsh_daemon="builtin",
        max_aj_instances=2000, max_aj_tasks=75000, max_u_jobs=0, max_jobs=0,
        auto_user_oticket=0, auto_user_fshare=0, auto_user_default_project="none",
        auto_user_delete_time=86400,
        delegated_file_staging=False,
        reprioritize=0,
        jsv_url="none",
        jsv_allowed_mod=["ac", "h", "i", "e", "o", "j", "M", "N", "p", "w"],
    )


def effective_config(global_conf: Conf, local_conf: Conf | None = None) -> dict[str, str]:
    """A host's configuration as attribute -> text: the global one with local keys on top."""
    merged = to_wire(global_conf)
    if local_conf is not None:
        merged.update(to_wire(local_conf))
    merged.pop("name", None)
    return merged
