"""qacct on hosts that do not have the accounting file: the master hands its file out in
chunks that end at a line (to anyone: on the master host the file is world-readable, as Grid
Engine's is). A host that joined the cell shares no directory with the master, so its qacct
reads the records this way and selects them itself."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from qsys import protocol
from qsys.accounting_file import devices_file

if TYPE_CHECKING:
    from qsys.master.identity import Identity

CHUNK = 1 << 20


def _read(path: Path, offset: int) -> tuple[bytes, bool]:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read(CHUNK + 1)
    except FileNotFoundError:
        return b"", True
    if len(data) <= CHUNK:
        return data, True
    cut = data.rfind(b"\n", 0, CHUNK) + 1
    return data[:cut] if cut else data[:CHUNK], False


class AccountingReads:
    def __init__(self, path: Path) -> None:
        self.path = path

    async def read(self, who: Identity, msg: protocol.ReadAccounting) -> protocol.AccountingData:
        path = devices_file(self.path) if msg.devices else self.path
        data, end = await asyncio.get_running_loop().run_in_executor(None, _read, path, max(0, msg.offset))
        return protocol.AccountingData(data, max(0, msg.offset) + len(data), end)
