"""The ingestor's local durable spool: a write-ahead log of received MQTT messages.

Segment files of length-prefixed, CRC32-checked records, named by the global byte
position (LSN) of their first record. Appends go to a buffer; `commit()` writes the
buffer and fdatasyncs it (a group commit, in a thread), and only then are the group's
messages acknowledged to the broker. The drainer reads records back from the files (the
page cache, usually) from the position PostgreSQL last committed, and `release()` deletes
the segments it has passed.

Record: header `<II` (body length, CRC32 of the body), body `<QH` (received at, epoch ms;
topic length), topic (UTF-8), payload. A crash in the middle of a group leaves a torn
tail: the first record whose length or checksum does not hold ends the log, and the
segment is cut there on open. Nothing after it was ever acknowledged (the ack waits for
the fdatasync of the whole group).

Why segment files and not SQLite (WAL mode) or an embedded store: the log is append-only
and read once, in order; whole segments are deleted once drained (an unlink), so nothing
is ever rewritten, vacuumed or compacted. Measured on this project's machine (ext4, 250-byte
records, durable commits): groups of 500 records, 226,000 records/s with one write +
fdatasync per group (p50 0.8 ms) against 117,000 with SQLite WAL synchronous=FULL (p50
2.8 ms); groups of 50, 37,000 against 42,000; the ingestor's groups are hundreds to
thousands of messages under load, and SQLite would still have to DELETE what was drained.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import struct
import time
import uuid
import zlib
from dataclasses import dataclass
from pathlib import Path

from shared.durable import fsync_path

log = logging.getLogger(__name__)

HEADER = struct.Struct("<II")  # body length, crc32(body)
BODY = struct.Struct("<QH")  # received at (epoch ms), topic length
SUFFIX = ".log"
ID_FILE = "spool.id"
LOCK_FILE = "spool.lock"
MAX_RECORD = 64 * 1024 * 1024  # a length beyond this is a torn header, not a record
_SAFE = re.compile(r"[^A-Za-z0-9._-]")


class SpoolError(RuntimeError):
    """The spool cannot be used (locked by another process, unreadable)."""


@dataclass(frozen=True)
class Record:
    topic: str
    payload: bytes
    received_ms: int
    end: int  # the LSN just after this record: drained up to here once it is committed


@dataclass
class Segment:
    base: int  # LSN of its first byte
    size: int  # durable bytes
    records: int

    @property
    def end(self) -> int:
        return self.base + self.size

    @property
    def name(self) -> str:
        return f"{self.base:020d}{SUFFIX}"


def client_directory(root: str | Path, client_id: str) -> Path:
    """Each ingestor (MQTT client id) has a spool of its own under the spool root."""
    return Path(root) / (_SAFE.sub("_", client_id) or "ingestor")


def encode(topic: str, payload: bytes, received_ms: int) -> bytes:
    name = topic.encode()
    body = BODY.pack(received_ms, len(name)) + name + payload
    return HEADER.pack(len(body), zlib.crc32(body)) + body


def scan(data: bytes | memoryview, base: int, limit: int | None = None) -> tuple[list[Record], int]:
    """The valid records of a segment's bytes (at most `limit`), and how many bytes they span
    (what follows, when not cut by `limit`, is a torn tail)."""
    records: list[Record] = []
    offset, size = 0, len(data)
    while offset + HEADER.size <= size and (limit is None or len(records) < limit):
        length, crc = HEADER.unpack_from(data, offset)
        start, stop = offset + HEADER.size, offset + HEADER.size + length
        if length < BODY.size or length > MAX_RECORD or stop > size:
            break
        body = data[start:stop]
        if zlib.crc32(body) != crc:
            break
        received, topic_length = BODY.unpack_from(body, 0)
        topic_end = BODY.size + topic_length
        if topic_end > length:
            break
        records.append(
            Record(
                topic=bytes(body[BODY.size : topic_end]).decode(errors="replace"),
                payload=bytes(body[topic_end:]),
                received_ms=received,
                end=base + stop,
            )
        )
        offset = stop
    return records, offset


class Spool:
    """One ingestor's spool directory. Not thread-safe: one event loop drives it; only the
    write+fdatasync of `commit_blocking` runs in a worker thread."""

    def __init__(self, directory: Path, *, max_bytes: int, segment_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.spool_id = ""
        self.segments: list[Segment] = []
        self._fd: int | None = None
        self._lock_fd: int | None = None
        self._buffer = bytearray()
        self._buffered = 0
        self._buffer_oldest_ms = 0
        self.drained = 0  # LSN: everything before it is in PostgreSQL
        self.drained_records = 0  # records before `drained` still in the segment files
        self.torn_bytes = 0  # discarded at open
        self.oldest_ms: int | None = None  # receipt time of the oldest record not drained

    # --- open / close -------------------------------------------------------------------------

    def open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock_fd = os.open(self.directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            self._lock_fd = None
            raise SpoolError(
                f"spool {self.directory} is in use by another ingestor process "
                "(give each one its own MQTT_CLIENT_ID or INGEST_SPOOL_DIR)"
            ) from None
        id_file = self.directory / ID_FILE
        if not id_file.exists():
            temporary = id_file.with_suffix(".tmp")
            temporary.write_text(str(uuid.uuid4()) + "\n")
            with open(temporary, "rb+") as handle:
                os.fsync(handle.fileno())
            temporary.replace(id_file)
            fsync_path(self.directory)
        self.spool_id = id_file.read_text().strip()
        self.segments = []
        names = sorted(p for p in self.directory.iterdir() if p.name.endswith(SUFFIX))
        for index, path in enumerate(names):
            base = int(path.name[: -len(SUFFIX)])
            data = path.read_bytes()
            records, valid = scan(data, base)
            self.segments.append(Segment(base, valid, len(records)))
            if valid < len(data):
                # Only the last segment can be torn (earlier ones were synced before the next
                # began); wherever it is, what follows the first bad record was never acked.
                self.torn_bytes += len(data) - valid
                log.warning(
                    "spool %s: discarded a torn tail of %d bytes (never acknowledged)",
                    path.name, len(data) - valid,
                )  # fmt: skip
                with open(path, "rb+") as handle:
                    handle.truncate(valid)
                    os.fsync(handle.fileno())
                for later in names[index + 1 :]:
                    later.unlink()
                break
        self.drained = self.segments[0].base if self.segments else 0
        self.drained_records = 0
        self._new_segment(self.end)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    def _new_segment(self, base: int) -> None:
        if self._fd is not None:
            os.close(self._fd)
        if self.segments and self.segments[-1].base == base:
            path = self.directory / self.segments[-1].name  # an empty (or just cut) last one
        else:
            self.segments.append(Segment(base, 0, 0))
            path = self.directory / self.segments[-1].name
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        fsync_path(self.directory)

    # --- writing ------------------------------------------------------------------------------

    def append(self, topic: str, payload: bytes, received_ms: int) -> None:
        if not self._buffered:
            self._buffer_oldest_ms = received_ms
        self._buffer += encode(topic, payload, received_ms)
        self._buffered += 1

    @property
    def buffered(self) -> int:
        return self._buffered

    def take_group(self) -> tuple[bytes, int]:
        """The buffered records as one group to commit; appending goes on into a new buffer."""
        data, count = bytes(self._buffer), self._buffered
        self._buffer.clear()
        self._buffered = 0
        return data, count

    def commit_blocking(self, data: bytes) -> None:
        """Write a group and make it durable (in a worker thread)."""
        assert self._fd is not None
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        os.fdatasync(self._fd)

    def committed(self, size: int, count: int) -> None:
        """After `commit_blocking`: the group is durable; rotate when the segment is full or
        when everything is drained (so the drained one can go and the disk empties)."""
        active = self.segments[-1]
        active.size += size
        active.records += count
        if active.size >= self.segment_bytes:
            self._new_segment(active.end)

    def rotate_if_drained(self, minimum: int = 1 << 20) -> None:
        active = self.segments[-1]
        if self.drained >= active.end and active.size >= minimum and not self._buffered:
            self._new_segment(active.end)
            self._delete_drained()

    # --- reading and releasing ----------------------------------------------------------------

    @property
    def end(self) -> int:
        return self.segments[-1].end if self.segments else 0

    def read(self, start: int, limit_records: int, limit_bytes: int = 8 << 20) -> list[Record]:
        """Durable records from LSN `start` on, at most `limit_records` (one segment's worth)."""
        for segment in self.segments:
            if segment.base <= start < segment.end:
                break
        else:
            return []
        offset = start - segment.base
        length = min(segment.size - offset, limit_bytes)
        with open(self.directory / segment.name, "rb") as handle:
            handle.seek(offset)
            data = handle.read(length)
        records, valid = scan(data, start, limit_records)
        if not records and length == segment.size - offset and valid < len(data):
            raise SpoolError(f"spool {segment.name}: unreadable record at {offset}")
        if not records and length < segment.size - offset:
            # One record larger than limit_bytes: read it whole.
            return self.read(start, limit_records, limit_bytes * 4)
        return records

    def seek_drained(self, position: int) -> int:
        """Start draining at `position` (PostgreSQL's committed one); returns records skipped."""
        position = max(position, self.segments[0].base if self.segments else 0)
        if position > self.end:
            # The database knows a position this spool never reached: another spool's data
            # (a spool id shared by copying a directory). Drain all of it; dedupe keeps it right.
            log.warning("spool position %d beyond its end %d; draining it all", position, self.end)
            position = self.segments[0].base if self.segments else 0
        skipped = 0
        cursor = self.drained
        while cursor < position:
            batch = self.read(cursor, 100_000)
            if not batch:
                break
            for record in batch:
                if record.end > position:
                    break
                skipped += 1
                cursor = record.end
            else:
                continue
            break
        self.drained = cursor
        self.drained_records += skipped
        self._delete_drained()
        return skipped

    def release(self, position: int, records: int) -> None:
        """Everything before `position` (`records` more records) is committed in PostgreSQL."""
        self.drained = max(self.drained, position)
        self.drained_records += records
        self._delete_drained()

    def _delete_drained(self) -> None:
        while len(self.segments) > 1 and self.segments[0].end <= self.drained:
            gone = self.segments.pop(0)
            self.drained_records -= gone.records
            with contextlib.suppress(FileNotFoundError):
                (self.directory / gone.name).unlink()

    # --- figures ------------------------------------------------------------------------------

    @property
    def disk_bytes(self) -> int:
        """Bytes the spool holds on disk (segment files, drained parts of the first included)."""
        return sum(s.size for s in self.segments) + len(self._buffer)

    @property
    def undrained_records(self) -> int:
        return sum(s.records for s in self.segments) - self.drained_records + self._buffered

    @property
    def undrained_bytes(self) -> int:
        return max(0, self.end - self.drained) + len(self._buffer)

    @property
    def full(self) -> bool:
        return self.disk_bytes >= self.max_bytes


def now_ms() -> int:
    return int(time.time() * 1000)
