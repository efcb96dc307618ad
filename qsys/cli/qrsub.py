"""qrsub: ask the master for an advance reservation (slots kept free for a time window).

Parsed by the option engine like every q-command, with Grid Engine's qrsub messages (it
exits 1 for every refusal of its command line, and names the missing argument of ``-pe``,
``-q``, ``-masterq`` and ``-u``).
"""

from __future__ import annotations

import sys

from qsys.arspec import ArSpec
from qsys.cli.common import run
from qsys.cli.engine import HELP, JSON, Option, OptionTable, checked, parse
from qsys.errors import InvalidRequest, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence


class Request:
    """What the handlers fill: the reservation asked for and the output form."""

    __slots__ = ("form", "now", "spec")

    def __init__(self, now: float | None) -> None:
        self.spec = ArSpec()
        self.now = now  # the clock -a/-e without a year are read against (None: the real one)
        self.form = ""


def _moment(state: Request, name: str, values: list[str]) -> None:
    from qsys.grammar.values import parse_datetime

    try:
        moment = parse_datetime(values[0], now=state.now)
    except InvalidRequest:
        raise UsageError("\nInvalid format of date/hour-minute field.\n"
                         f'qrsub: Wrong date/time format "{values[0]}" specified to {name} option') from None
    if name == "-a":
        state.spec.start = moment
    else:
        state.spec.end = moment


def _duration(state: Request, name: str, values: list[str]) -> None:
    from qsys.grammar.values import parse_time

    try:
        state.spec.duration = parse_time(values[0])
    except InvalidRequest:
        raise UsageError(f'qrsub: Wrong time format "{values[0]}" specified to -d option') from None


def _name(state: Request, name: str, values: list[str]) -> None:
    if values[0][:1].isdigit():
        raise InvalidRequest(f'denied: "{values[0]}" is not a valid object name (cannot start with a digit)')
    state.spec.name = values[0]


def _account(state: Request, name: str, values: list[str]) -> None:
    state.spec.account = values[0]


def _resources(state: Request, name: str, values: list[str]) -> None:
    from qsys.grammar.requests import parse_resource_list

    state.spec.resources.update(parse_resource_list(values[0]))


def _queues(state: Request, name: str, values: list[str]) -> None:
    from qsys.grammar.requests import parse_queue_list

    target = state.spec.queues if name == "-q" else state.spec.master_queues
    target.extend(parse_queue_list(values[0]))


def _pe(state: Request, name: str, values: list[str]) -> None:
    from qsys.grammar.values import parse_slot_range

    pe_name, text = values
    low, high = checked(parse_slot_range, "qrsub", name, text, shown=f"{pe_name} {text}")
    state.spec.pe = (pe_name, low, high)


def _users(state: Request, name: str, values: list[str]) -> None:
    target = state.spec.users if name == "-u" else state.spec.mail_users
    target.extend(user for user in values[0].split(",") if user)


def _mail_options(state: Request, name: str, values: list[str]) -> None:
    state.spec.mail_options = values[0]


QUEUE_LIST = ("queue list argument",)
QRSUB_OPTIONS = OptionTable("qrsub", [
    HELP,
    JSON,
    Option("-a date_time", "request a start time", _moment),
    Option("-A account_string", "account string in accounting record", _account),
    Option("-d time", "duration of the reservation", _duration),
    Option("-e date_time", "request an end time", _moment),
    Option("-l resource_list", "request the given resources", _resources),
    Option("-m mail_options", "define mail notification events", _mail_options),
    Option("-masterq wc_queue_list", "bind the master task to queue(s)", _queues, missing=QUEUE_LIST),
    Option("-M mail_list", "notify these e-mail addresses", _users),
    Option("-N name", "specify a name for the reservation", _name),
    Option("-pe pe_name slot_range", "request a slot range for parallel jobs", _pe,
           missing=("pe_name argument", "range as 2nd argument")),
    Option("-q wc_queue_list", "bind the reservation to queue(s)", _queues, missing=QUEUE_LIST),
    Option("-u wc_user_list", "users allowed to submit jobs into the reservation (!user: not)", _users,
           missing=("a list usernames",)),
])


def parse_qrsub(argv: Sequence[str], now: float | None = None) -> ArSpec:
    """The reservation a ``qrsub`` command line asks for; UsageError with Grid Engine's words."""
    return parse_request(argv, now).spec


def parse_request(argv: Sequence[str], now: float | None = None) -> Request:
    """A ``qrsub`` command line: the reservation and the output form."""
    request = Request(now)
    try:
        if not argv:  # Grid Engine shows its help first
            raise UsageError(QRSUB_OPTIONS.usage() + "ERROR! no option argument")
        parse(argv, QRSUB_OPTIONS, request)
    except UsageError as exc:
        exc.exit_code = 1  # Grid Engine's qrsub exits 1 for every refusal
        raise
    return request


def _body(argv: list[str]) -> int:
    from qsys.client import Client

    request = parse_request(argv)
    with Client() as client:
        reply = client.ar_submit(request.spec)
    from qsys.cli.qdel import print_lines

    return print_lines(reply, request.form)


def main(argv: list[str] | None = None) -> int:
    return run("qrsub", _body, argv)


if __name__ == "__main__":
    sys.exit(main())
