"""Scheduler configuration (``qconf -ssconf``): one object per cluster."""

from __future__ import annotations

from dataclasses import dataclass

from qsys.objects.base import ConfigObject, attr
from qsys.objects.layout import KeyValueLayout
from qsys.objects.values import Bool, Choice, Duration, Float, Int, NameValues, Text, TimeValue

_T = TimeValue()


def _t(text: str) -> Duration:
    return Duration.parse(text)


@dataclass
class SchedulerConfig(ConfigObject):
    """Defaults are those of the reference cell (qconf_ssconf.txt), which is tuned for fast
    dispatch: schedule_interval 0:0:1 and flush_*_sec 1 (a stock SGE install: 0:0:15, 0, 0)."""

    kind = "sconf"
    layout = KeyValueLayout(width=34)

    algorithm: str = attr(Text(), "default")
    schedule_interval: Duration = attr(_T, _t("0:0:1"))
    maxujobs: int = attr(Int(), 0)
    queue_sort_method: str = attr(Choice("load", "seqno"), "load")
    job_load_adjustments: dict[str, str] = attr(NameValues(), factory=lambda: {"np_load_avg": "0.50"})
    load_adjustment_decay_time: Duration = attr(_T, _t("0:7:30"))
    load_formula: str = attr(Text(), "np_load_avg")
    schedd_job_info: str = attr(Text(), "true")
    flush_submit_sec: int = attr(Int(), 1)
    flush_finish_sec: int = attr(Int(), 1)
    params: str = attr(Text(), "none")
    reprioritize_interval: Duration = attr(_T, _t("0:0:0"))
    halftime: int = attr(Int(), 168)
    usage_weight_list: dict[str, str] = attr(
        NameValues(), factory=lambda: {"cpu": "1.000000", "mem": "0.000000", "io": "0.000000"})
    compensation_factor: float = attr(Float(), 5.0)
    weight_user: float = attr(Float(), 0.25)
    weight_project: float = attr(Float(), 0.25)
    weight_department: float = attr(Float(), 0.25)
    weight_job: float = attr(Float(), 0.25)
    weight_tickets_functional: int = attr(Int(), 0)
    weight_tickets_share: int = attr(Int(), 0)
    share_override_tickets: bool = attr(Bool(), True)
    share_functional_shares: bool = attr(Bool(), True)
    max_functional_jobs_to_schedule: int = attr(Int(), 200)
    report_pjob_tickets: bool = attr(Bool(), True)
    max_pending_tasks_per_job: int = attr(Int(), 50)
    halflife_decay_list: str = attr(Text(), "none")
    policy_hierarchy: str = attr(Text(), "OFS")
    weight_ticket: float = attr(Float(), 0.5)
    weight_waiting_time: float = attr(Float(), 0.278)
    weight_deadline: float = attr(Float(), 3600000.0)
    weight_urgency: float = attr(Float(), 0.5)
    weight_priority: float = attr(Float(), 0.0)
    max_reservation: int = attr(Int(), 0)
    default_duration: Duration = attr(_T, _t("INFINITY"))

    def check(self) -> None:
        if self.policy_hierarchy.upper() != "NONE" and (
                set(self.policy_hierarchy) - set("OFSD") or len(set(self.policy_hierarchy)) != len(self.policy_hierarchy)):
            raise ValueError(f"policy_hierarchy: '{self.policy_hierarchy}' is not made of O, F, S, D")
        if self.schedd_job_info.split()[0].lower() not in ("true", "false", "job_list"):
            raise ValueError(f"schedd_job_info: '{self.schedd_job_info}' is not true, false or job_list")


def default_scheduler_config() -> SchedulerConfig:
    return SchedulerConfig()
