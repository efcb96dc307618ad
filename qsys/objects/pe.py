"""Parallel environment (``qconf -sp``): how many slots a parallel job gets and where."""

from __future__ import annotations

from dataclasses import dataclass

from qsys.objects.base import ConfigObject, attr
from qsys.objects.layout import KeyValueLayout
from qsys.objects.values import Bool, Int, NoneText, Text, ValueType, WordList

ALLOCATION_RULES = ("$pe_slots", "$fill_up", "$round_robin")


class AllocationRule(ValueType[str]):
    """``$pe_slots``, ``$fill_up``, ``$round_robin`` or a fixed number of slots per host."""

    def parse(self, text: str) -> str:
        if text in ALLOCATION_RULES or (text.isdigit() and int(text) > 0):
            return text
        raise ValueError(f"'{text}' is not {', '.join(ALLOCATION_RULES)} or a positive number")

    def format(self, value: str) -> str:
        return value


class UrgencySlots(ValueType[str]):
    """min, max, avg or a number: the slot count urgency assumes for a range request."""

    def parse(self, text: str) -> str:
        if text in ("min", "max", "avg") or text.isdigit():
            return text
        raise ValueError(f"'{text}' is not min, max, avg or a number")

    def format(self, value: str) -> str:
        return value


@dataclass
class ParallelEnvironment(ConfigObject):
    kind = "pe"
    key = "pe_name"
    layout = KeyValueLayout(width=19)

    pe_name: str = attr(Text())
    slots: int = attr(Int(), 0)
    user_lists: list[str] = attr(WordList(), factory=list)
    xuser_lists: list[str] = attr(WordList(), factory=list)
    start_proc_args: str | None = attr(NoneText(), None)
    stop_proc_args: str | None = attr(NoneText(), None)
    allocation_rule: str = attr(AllocationRule(), "$pe_slots")
    control_slaves: bool = attr(Bool(), False)
    job_is_first_task: bool = attr(Bool(), True)
    urgency_slots: str = attr(UrgencySlots(), "min")
    accounting_summary: bool = attr(Bool(), False)
    qsort_args: str | None = attr(NoneText(), None)

    def check(self) -> None:
        if not self.pe_name or any(c in self.pe_name for c in " \t,@[]=/"):
            raise ValueError(f"pe_name: '{self.pe_name}' is not a valid name")

    @property
    def fixed_per_host(self) -> int | None:
        """Slots per host for a numeric allocation rule, else None."""
        return int(self.allocation_rule) if self.allocation_rule.isdigit() else None


def default_pes() -> list[ParallelEnvironment]:
    """smp, mpi and make as Grid Engine's Debian install creates them (qconf_sp_*.txt)."""
    return [
        ParallelEnvironment(pe_name="make", slots=999, allocation_rule="$round_robin",
                            control_slaves=True, job_is_first_task=False, accounting_summary=True),
        ParallelEnvironment(pe_name="mpi", slots=99999, allocation_rule="$fill_up",
                            control_slaves=True, job_is_first_task=True, accounting_summary=False),
        ParallelEnvironment(pe_name="smp", slots=999, allocation_rule="$pe_slots",
                            control_slaves=True, job_is_first_task=True, accounting_summary=True),
    ]
