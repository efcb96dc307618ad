"""What the store holds, kept in memory as the blobs it holds: the master's undo log.

The master changes its memory before the commit that makes a change durable returns. When
that commit fails, the master puts back what this image says for every key the failed
batches touched, so nothing of a refused change stays in memory (HTCondor's job queue
aborts a transaction the same way). The image is fed only after a transaction committed,
from the rows that transaction wrote, so it never runs ahead of the database.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import msgpack

Record = dict[str, Any]


class Packed(bytes):
    """A value already in the store's msgpack form: :func:`pack` puts it into a record as it
    is. A job's spec is packed once per spec, not again with every change of its job."""


def pack(record: Record) -> bytes:
    """The store's blob of a record; top-level :class:`Packed` values are spliced in unchanged
    (the blob unpacks as if they had been packed with the record; they come last)."""
    spliced = [(k, v) for k, v in record.items() if type(v) is Packed]
    if not spliced:
        return _packb(record)
    rest = {k: v for k, v in record.items() if type(v) is not Packed}
    body = _packb(rest)  # one call for the rest, its map header replaced by the whole one's
    parts = [_PACKER.pack_map_header(len(record)), body[len(_PACKER.pack_map_header(len(rest))):]]
    for key, value in spliced:
        parts += [_packb(key), value]
    return b"".join(parts)


def _packb(value: Any) -> bytes:
    # arguments and environments keep bytes that are not UTF-8 (as the wire does: protocol)
    return msgpack.packb(value, use_bin_type=True, unicode_errors="surrogateescape")


_PACKER = msgpack.Packer(use_bin_type=True)


def unpack(blob: bytes) -> Record:
    # Records may be keyed by task number, hence strict_map_key=False.
    # arguments and environments keep bytes that are not UTF-8 (as the wire does: protocol)
    value: Record = msgpack.unpackb(bytes(blob), raw=False, strict_map_key=False, unicode_errors="surrogateescape")
    return value


@dataclass(slots=True)
class Image:
    """Per key the packed record the database holds (jobs, their tasks, objects, counters)."""

    jobs: dict[int, bytes] = field(default_factory=dict)
    tasks: dict[int, dict[int, bytes]] = field(default_factory=dict)  # job id -> task id -> record
    objects: dict[tuple[str, str], bytes] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)

    def job(self, job_id: int) -> Record | None:
        blob = self.jobs.get(job_id)
        return None if blob is None else unpack(blob)

    def tasks_of(self, job_id: int) -> dict[int, Record]:
        return {task_id: unpack(blob) for task_id, blob in self.tasks.get(job_id, {}).items()}

    def object(self, kind: str, name: str) -> Record | None:
        blob = self.objects.get((kind, name))
        return None if blob is None else unpack(blob)

    def absorb(self, wiped: Iterable[int], jobs: Iterable[tuple[int, dict[str, Any] | None]],
               tasks: Iterable[tuple[tuple[int, int], dict[str, Any] | None]],
               objects: Iterable[tuple[tuple[str, str], dict[str, Any] | None]],
               counters: Iterable[tuple[str, int]]) -> None:
        """Take in what one committed transaction wrote (rows as the store wrote them, None
        for a delete), in the order the store applies them: wipes, jobs, tasks, objects."""
        for job_id in wiped:
            self.tasks.pop(job_id, None)
        for job_id, row in jobs:
            if row is None:
                self.jobs.pop(job_id, None)
            else:
                self.jobs[job_id] = row["record"]
        for (job_id, task_id), row in tasks:
            if row is None:
                per_job = self.tasks.get(job_id)
                if per_job is not None:
                    per_job.pop(task_id, None)
                    if not per_job:
                        del self.tasks[job_id]
            else:
                self.tasks.setdefault(job_id, {})[task_id] = row["record"]
        for key, row in objects:
            if row is None:
                self.objects.pop(key, None)
            else:
                self.objects[key] = row["record"]
        for name, value in counters:
            self.counters[name] = max(value, self.counters.get(name, value))
