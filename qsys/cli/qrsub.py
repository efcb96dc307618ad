"""qrsub: ask the master for an advance reservation (slots kept free for a time window)."""

from __future__ import annotations

import sys

from qsys.cli.common import run, write

USAGE = """usage: qrsub [options]
   [-a date_time]                           request a start time
   [-A account_string]                      account string in accounting record
   [-d time]                                duration of the reservation
   [-e date_time]                           request an end time
   [-l resource_list]                       request the given resources
   [-m mail_options]                        define mail notification events
   [-masterq wc_queue_list]                 bind master task to queue(s)
   [-M mail_user]                           notify these e-mail addresses
   [-N name]                                specify a name for the reservation
   [-pe pe-name slot_range]                 request slot range for parallel jobs
   [-q wc_queue_list]                       bind the reservation to queue(s)
   [-u wc_user_list]                        users allowed to submit jobs into the reservation
   [-help]                                  print this help
   [--json]                                 JSON output (qsys)
"""


def _body(argv: list[str]) -> int:
    from qsys.arspec import parse_qrsub
    from qsys.client import Client

    if argv[:1] == ["-help"]:
        sys.stdout.write(USAGE)
        return 0
    as_json = "--json" in argv
    spec = parse_qrsub([arg for arg in argv if arg != "--json"])
    with Client() as client:
        reply = client.ar_submit(spec)
    if as_json:
        from qsys.cli.qdel import print_lines

        return print_lines(reply, "json")
    for line in reply.lines:
        write(line)
    return int(reply.exit)


def main(argv: list[str] | None = None) -> int:
    return run("qrsub", _body, argv)


if __name__ == "__main__":
    sys.exit(main())
