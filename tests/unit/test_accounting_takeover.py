"""A master that takes the lease gives the accounting file and the device-id file beside it new
inodes: what a deposed master still holding them open appends goes to the old ones, so no line
of an end the new master accounts appears twice."""

from __future__ import annotations

from pathlib import Path

from qsys.accounting_file import devices_file
from qsys.master.accounting import detach_other_writers


def test_a_deposed_writer_appends_to_the_old_inode_only(tmp_path: Path) -> None:
    accounting = tmp_path / "accounting"
    for path in (accounting, devices_file(accounting)):
        path.write_text("kept\n")
        with open(path, "a") as deposed:
            detach_other_writers(path)
            deposed.write("late\n")
        assert path.read_text() == "kept\n"


def test_a_missing_file_stays_missing(tmp_path: Path) -> None:
    detach_other_writers(tmp_path / "accounting_devices")
    assert not (tmp_path / "accounting_devices").exists()
