"""Advance reservations: what ``qrsub`` asks for (its command line is parsed in
``qsys.cli.qrsub``), the record ``qrstat`` shows, and their Grid Engine text and XML forms.

The reservation itself is master state (it holds slots from ``start`` to ``end``, see
``qsys.sched``); this module is the plain data and formats around it, so the commands and the
master share one reading of ``-a``/``-e``/``-d`` and one way of printing a record.
"""

from __future__ import annotations

from qsys.errors import InvalidRequest
from qsys.record import dataclass, field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

SUMMARY_HEADER = ("ar-id   name       owner        state start at             end at               duration\n"
                  + "-" * 90 + "\n")
_XMLNS = "http://arc.liv.ac.uk/repos/darcs/sge/source/dist/util/resources/schemas/qrstat/qrstat.xsd"


@dataclass
class ArSpec:
    """One ``qrsub`` request (times in epoch seconds)."""

    start: float | None = None  # -a; None: now
    end: float | None = None  # -e
    duration: float | None = None  # -d, seconds
    name: str = ""  # -N
    account: str = "sge"  # -A
    resources: dict[str, str] = field(default_factory=dict)  # -l
    queues: list[str] = field(default_factory=list)  # -q
    master_queues: list[str] = field(default_factory=list)  # -masterq
    pe: tuple[str, int, int] | None = None  # -pe name min-max
    users: list[str] = field(default_factory=list)  # -u; "!user" keeps a user out
    mail_options: str = ""  # -m
    mail_users: list[str] = field(default_factory=list)  # -M

    def window(self, now: float) -> tuple[float, float]:
        """(start, end) as Grid Engine works them out from -a, -e and -d, or its refusal."""
        if self.end is None and not self.duration:
            raise InvalidRequest('missing value for "end time or duration" in advance reservation request')
        if self.start is not None and self.end is not None:
            start, end = self.start, self.end
            if self.duration and abs((end - start) - self.duration) > 0.5:
                raise InvalidRequest("difference between end and start time does not correspond to duration")
        elif self.end is not None:
            start = self.end - self.duration if self.duration else now
            end = self.end
        else:
            start = self.start if self.start is not None else now
            end = start + (self.duration or 0.0)
        if start > end:
            raise InvalidRequest("start time is later than end time")
        if start < now - 1 or end < now:
            raise InvalidRequest("start time is in the past")
        return start, end


@dataclass
class ArRecord:
    """What qrstat shows of one advance reservation."""

    ar_id: int
    owner: str
    start: float
    end: float
    submission_time: float
    state: str = "w"  # w waiting, r running, d deleted, E error, x exited
    name: str = ""
    group: str = ""
    account: str = "sge"
    resources: dict[str, str] = field(default_factory=dict)
    granted: list[tuple[str, int]] = field(default_factory=list)  # (queue@host, slots)
    pe: tuple[str, int] | None = None  # granted parallel environment and its slots
    users: list[str] = field(default_factory=list)  # acl_list
    excluded: list[str] = field(default_factory=list)  # xacl_list

    @property
    def duration(self) -> str:
        seconds = int(round(self.end - self.start))
        return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def record_for(ar_id: int, spec: ArSpec, owner: str, group: str, now: float, granted: list[tuple[str, int]],
               pe: tuple[str, int] | None) -> ArRecord:
    """The record of a granted request."""
    start, end = spec.window(now)
    return ArRecord(ar_id, owner, start, end, now, "r" if start <= now else "w", spec.name, group,
                    spec.account, dict(spec.resources), list(granted), pe,
                    [u for u in spec.users if not u.startswith("!")],
                    [u[1:] for u in spec.users if u.startswith("!")])


def _when(epoch: float) -> str:
    import time

    return time.strftime("%m/%d/%Y %H:%M:%S", time.localtime(epoch))


def _iso(epoch: float) -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(epoch))


def format_summary(records: Sequence[ArRecord]) -> str:
    """``qrstat``: one line per reservation (nothing at all without any)."""
    if not records:
        return ""
    rows = [f"{r.ar_id:>7} {r.name:<10.10} {r.owner:<12.12} {r.state:<5.5} {_when(r.start):<20} "
            f"{_when(r.end):<20} {r.duration}\n" for r in records]
    return SUMMARY_HEADER + "".join(rows)


def _details(record: ArRecord) -> list[tuple[str, str]]:
    rows = [("id", str(record.ar_id))]
    if record.name:
        rows.append(("name", record.name))
    rows += [("owner", record.owner), ("state", record.state), ("start_time", _when(record.start)),
             ("end_time", _when(record.end)), ("duration", record.duration),
             ("submission_time", _when(record.submission_time)), ("group", record.group),
             ("account", record.account)]
    if record.resources:
        rows.append(("resource_list", ",".join(f"{k}={v}" for k, v in record.resources.items())))
    rows.append(("granted_slots_list", ",".join(f"{qi}={n}" for qi, n in record.granted)))
    if record.pe is not None:
        rows.append(("granted_parallel_environment", f"{record.pe[0]} slots {record.pe[1]}"))
    if record.users:
        rows.append(("acl_list", ",".join(record.users)))
    if record.excluded:
        rows.append(("xacl_list", ",".join(record.excluded)))
    return rows


def format_details(records: Sequence[ArRecord]) -> str:
    """``qrstat -ar id,...``: a block per reservation."""
    out = []
    for record in records:
        out.append("-" * 80 + "\n")
        out.extend(f"{key:<30} {value}\n" for key, value in _details(record))
    return "".join(out)


def format_missing(ids: Sequence[int]) -> str:
    """What qrstat -ar prints for ids it does not know."""
    return "Following advance reservations do not exist:\n" + "".join(f"{i}\n" for i in ids)


def _escape(text: object) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def format_xml(records: Sequence[ArRecord], details: bool = False, missing: Sequence[int] = ()) -> str:
    """``qrstat -xml`` (summary fields) or ``qrstat -ar ... -xml`` (``details``)."""
    lines = ["<?xml version='1.0'?>", f'<qrstat xmlns:xsd="{_XMLNS}">']
    for record in records:
        lines.append("   <ar_summary>")
        fields = [("id", record.ar_id)] + ([("name", record.name)] if record.name else []) + [
            ("owner", record.owner), ("state", record.state), ("start_time", _iso(record.start)),
            ("end_time", _iso(record.end)), ("duration", record.duration)]
        if details:
            fields += [("submission_time", _iso(record.submission_time)), ("group", record.group),
                       ("account", record.account)]
        lines.extend(f"      <{tag}>{_escape(value)}</{tag}>" for tag, value in fields)
        if details:
            if record.resources:
                lines.append("      <resource_list>")
                lines.extend(f'         <resource name="{_escape(k)}" type="{_escape(v)}"/>'
                             for k, v in record.resources.items())
                lines.append("      </resource_list>")
            lines.append("      <granted_slots_list>")
            lines.extend(f'         <granted_slots  queue_instance="{_escape(qi)}" slots="{n}"/>'
                         for qi, n in record.granted)
            lines.append("      </granted_slots_list>")
            if record.pe is not None:
                lines += ["      <granted_parallel_environment>",
                          f"         <parallel_environment>{_escape(record.pe[0])}</parallel_environment>",
                          f"         <slots>{record.pe[1]}</slots>", "      </granted_parallel_environment>"]
            for tag, entry, names in (("acl_list", "acl", record.users), ("xacl_list", "xacl", record.excluded)):
                if names:
                    lines.append(f"      <{tag}>")
                    lines.extend(f'         <{entry}  user="{_escape(n)}"/>' for n in names)
                    lines.append(f"      </{tag}>")
        lines.append("   </ar_summary>")
    for ar_id in missing:
        lines += ["   <ar_unknown>", f"      <id>{ar_id}</id>", "   </ar_unknown>"]
    lines.append("</qrstat>")
    return "".join(line + "\n" for line in lines)
