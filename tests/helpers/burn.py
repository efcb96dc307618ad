"""A known CPU burn for usage tests: ``burn.py SECONDS OUTFILE [detach]``.

Burns ``SECONDS`` of user CPU, then writes its own cpu time (user + system, as the kernel
counts it) to ``OUTFILE``. With ``detach`` it first double-forks and starts a new session,
so it is no longer a descendant of the process that started it (what daemons and careless
MPI launchers do). ``forever`` as SECONDS burns until killed, writing its pid first.
"""

from __future__ import annotations

import os
import sys


def burn(seconds: float) -> None:
    while True:
        t = os.times()
        if t.user + t.system >= seconds:
            return
        for _ in range(20000):
            pass


def main() -> None:
    seconds, out = sys.argv[1], sys.argv[2]
    if len(sys.argv) > 3 and sys.argv[3] == "detach":
        if os.fork():
            os._exit(0)
        os.setsid()
        if os.fork():
            os._exit(0)
    if seconds == "forever":
        with open(out, "w") as f:
            f.write(f"{os.getpid()}\n")
        burn(1e12)
    burn(float(seconds))
    t = os.times()
    with open(out + ".tmp", "w") as f:
        f.write(f"{t.user + t.system}\n")
    os.rename(out + ".tmp", out)


if __name__ == "__main__":
    main()
