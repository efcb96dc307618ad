"""Complexes (``qconf -sc``): the resource attributes jobs may request, one table row each."""

from __future__ import annotations

from dataclasses import dataclass, field

from qsys.objects.base import ConfigObject, attr, parse_text, validate
from qsys.objects.layout import TableLayout
from qsys.objects.values import Choice, Duration, Int, Memory, Text

TYPES = ("INT", "DOUBLE", "MEMORY", "TIME", "STRING", "CSTRING", "RESTRING", "HOST", "BOOL", "RSMAP")
NUMERIC = ("INT", "DOUBLE", "MEMORY", "TIME", "RSMAP")


@dataclass
class ComplexDef(ConfigObject):
    """One complex attribute (a row of the table)."""

    kind = "complex_def"
    key = "name"

    name: str = attr(Text())
    shortcut: str = attr(Text())
    type: str = attr(Choice(*TYPES))
    relop: str = attr(Choice("==", "<", ">", "<=", ">=", "!=", "EXCL"))
    requestable: str = attr(Choice("YES", "NO", "FORCED"))
    consumable: str = attr(Choice("YES", "NO", "JOB"))
    default: str = attr(Text())
    urgency: int = attr(Int(minimum=None))

    def check(self) -> None:
        if self.type == "RSMAP" and (self.consumable == "NO" or self.relop != "<="):
            raise ValueError(f"{self.name}: a resource map (RSMAP) must be consumable with relop <=")
        if self.consumable != "NO" and self.type not in NUMERIC:
            raise ValueError(f"{self.name}: a {self.type} complex cannot be consumable")
        if self.type in NUMERIC:
            _check_numeric(self.name, self.type, self.default)

    @property
    def is_consumable(self) -> bool:
        return self.consumable != "NO"


def _check_numeric(name: str, kind: str, text: str) -> None:
    try:
        if kind == "MEMORY":
            Memory.parse(text)
        elif kind == "TIME":
            Duration.parse(text)
        elif kind == "RSMAP":
            int(text)
        else:
            float(text)
    except ValueError:
        raise ValueError(f"{name}: default '{text}' is not a {kind} value") from None


@dataclass
class ComplexList(ConfigObject):
    """All complexes of the cluster: ``qconf -sc`` shows and ``qconf -mc`` edits them whole."""

    kind = "complex"
    layout = TableLayout(
        rows="complexes",
        row_cls=ComplexDef,
        widths=(20, 11, 10, 6, 12, 11, 9),
        head=("#name               shortcut   type      relop requestable consumable default  urgency ",
              "#" + "-" * 86),
        foot=("# >#< starts a comment but comments are not saved across edits --------",),
    )

    complexes: list[ComplexDef] = field(default_factory=list)

    def check(self) -> None:
        names: set[str] = set()
        for row in self.complexes:
            validate(row)
            for word in {row.name, row.shortcut}:
                if word in names:
                    raise ValueError(f"{row.name}: name or shortcut '{word}' is used twice")
                names.add(word)

    def by_name(self) -> dict[str, ComplexDef]:
        """Complexes by name and by shortcut."""
        table = {row.shortcut: row for row in self.complexes}
        table.update({row.name: row for row in self.complexes})
        return table


# The complexes of a new Grid Engine cell (data, as `qconf -sc` prints them).
_DEFAULT_TABLE = """\
arch                a          STRING    ==    YES         NO         NONE     0
calendar            c          STRING    ==    YES         NO         NONE     0
cpu                 cpu        DOUBLE    >=    YES         NO         0        0
display_win_gui     dwg        BOOL      ==    YES         NO         0        0
h_core              h_core     MEMORY    <=    YES         NO         0        0
h_cpu               h_cpu      TIME      <=    YES         NO         0:0:0    0
h_data              h_data     MEMORY    <=    YES         NO         0        0
h_fsize             h_fsize    MEMORY    <=    YES         NO         0        0
h_rss               h_rss      MEMORY    <=    YES         NO         0        0
h_rt                h_rt       TIME      <=    YES         NO         0:0:0    0
h_stack             h_stack    MEMORY    <=    YES         NO         0        0
h_vmem              h_vmem     MEMORY    <=    YES         NO         0        0
hostname            h          HOST      ==    YES         NO         NONE     0
load_avg            la         DOUBLE    >=    NO          NO         0        0
load_long           ll         DOUBLE    >=    NO          NO         0        0
load_medium         lm         DOUBLE    >=    NO          NO         0        0
load_short          ls         DOUBLE    >=    NO          NO         0        0
m_core              core       INT       <=    YES         NO         0        0
m_socket            socket     INT       <=    YES         NO         0        0
m_thread            thread     INT       <=    YES         NO         0        0
m_topology          topo       STRING    ==    YES         NO         NONE     0
m_topology_inuse    utopo      STRING    ==    YES         NO         NONE     0
mem_free            mf         MEMORY    <=    YES         NO         0        0
mem_total           mt         MEMORY    <=    YES         NO         0        0
mem_used            mu         MEMORY    >=    YES         NO         0        0
min_cpu_interval    mci        TIME      <=    NO          NO         0:0:0    0
np_load_avg         nla        DOUBLE    >=    NO          NO         0        0
np_load_long        nll        DOUBLE    >=    NO          NO         0        0
np_load_medium      nlm        DOUBLE    >=    NO          NO         0        0
np_load_short       nls        DOUBLE    >=    NO          NO         0        0
num_proc            p          INT       ==    YES         NO         0        0
qname               q          STRING    ==    YES         NO         NONE     0
rerun               re         BOOL      ==    NO          NO         0        0
s_core              s_core     MEMORY    <=    YES         NO         0        0
s_cpu               s_cpu      TIME      <=    YES         NO         0:0:0    0
s_data              s_data     MEMORY    <=    YES         NO         0        0
s_fsize             s_fsize    MEMORY    <=    YES         NO         0        0
s_rss               s_rss      MEMORY    <=    YES         NO         0        0
s_rt                s_rt       TIME      <=    YES         NO         0:0:0    0
s_stack             s_stack    MEMORY    <=    YES         NO         0        0
s_vmem              s_vmem     MEMORY    <=    YES         NO         0        0
seq_no              seq        INT       ==    NO          NO         0        0
slots               s          INT       <=    YES         YES        1        1000
swap_free           sf         MEMORY    <=    YES         NO         0        0
swap_rate           sr         MEMORY    >=    YES         NO         0        0
swap_rsvd           srsv       MEMORY    >=    YES         NO         0        0
swap_total          st         MEMORY    <=    YES         NO         0        0
swap_used           su         MEMORY    >=    YES         NO         0        0
tmpdir              tmp        STRING    ==    NO          NO         NONE     0
virtual_free        vf         MEMORY    <=    YES         NO         0        0
virtual_total       vt         MEMORY    <=    YES         NO         0        0
virtual_used        vu         MEMORY    >=    YES         NO         0        0
"""


def default_complexes() -> ComplexList:
    """A fresh copy of the default complex list (callers may change it)."""
    return parse_text(ComplexList, _DEFAULT_TABLE)


DEFAULT_COMPLEXES: ComplexList = default_complexes()
