"""Checkpointing interface (``qconf -sckpt``): how a job submitted with ``-ckpt name`` is
checkpointed, migrated and restarted. qsys runs the interface's commands and sends its signal;
what a checkpoint is stays the interface's business."""

from __future__ import annotations

import signal
from dataclasses import dataclass

from qsys.objects.base import ConfigObject, attr
from qsys.objects.layout import KeyValueLayout
from qsys.objects.project import valid_name
from qsys.objects.values import NoneText, Text, ValueType

INTERFACES = ("hibernator", "cpr", "transparent", "userdefined", "application-level")
WHEN_ORDER = "xsmr"  # the order Grid Engine prints the letters in


class Interface(ValueType[str]):
    """One of :data:`INTERFACES`, in any case; kept as written (Grid Engine prints it so)."""

    def parse(self, text: str) -> str:
        if text.lower() not in INTERFACES:
            raise ValueError(f"'{text}' is not one of {', '.join(INTERFACES)}")
        return text

    def format(self, value: str) -> str:
        return value


class When(ValueType[str]):
    """When checkpoints are taken: letters of ``s`` (execd shutdown), ``m`` (every
    min_cpu_interval), ``x`` (on suspend), ``r`` (reschedule), or ``n`` alone (never);
    printed in Grid Engine's order (``sx`` shows as ``xs``)."""

    def parse(self, text: str) -> str:
        if text == "n":
            return text
        if not text or any(c not in WHEN_ORDER for c in text) or len(set(text)) != len(text):
            raise ValueError(f"'{text}' is not made of the letters s, m, x, r (or n alone)")
        return "".join(c for c in WHEN_ORDER if c in text)

    def format(self, value: str) -> str:
        return value


class SignalName(NoneText):
    """A signal name as kill -l prints it (``USR2``), a signal number, or ``none``."""

    def __init__(self) -> None:
        super().__init__("none")

    def parse(self, text: str) -> str | None:
        value = super().parse(text)
        if value is None:
            return None
        name = value.upper().removeprefix("SIG")
        if value.isdigit() and 0 < int(value) < signal.NSIG:
            return value
        if not hasattr(signal, "SIG" + name) or name.startswith(("_", "IG", "DFL")):
            raise ValueError(f'"{value}" is not a signal string (like HUP, INT, WINCH, ..)')
        return value

    def check(self, value: object) -> None:
        super().check(value)
        if value is not None:
            self.parse(str(value))


_COMMAND = NoneText("none")


@dataclass
class Checkpoint(ConfigObject):
    kind = "ckpt"
    key = "ckpt_name"
    layout = KeyValueLayout(width=19)

    ckpt_name: str = attr(Text())
    interface: str = attr(Interface(), "userdefined")
    ckpt_command: str | None = attr(_COMMAND, None)
    migr_command: str | None = attr(_COMMAND, None)
    restart_command: str | None = attr(_COMMAND, None)
    clean_command: str | None = attr(_COMMAND, None)
    ckpt_dir: str = attr(Text(), "/tmp")
    signal: str | None = attr(SignalName(), None)
    when: str = attr(When(), "sx")

    def __post_init__(self) -> None:
        self.when = When().parse(self.when) if isinstance(self.when, str) and self.when else self.when

    def check(self) -> None:
        if not valid_name(self.ckpt_name):
            raise ValueError(f"ckpt_name: '{self.ckpt_name}' is not a valid name")
