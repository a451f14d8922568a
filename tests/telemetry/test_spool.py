"""The spool's log on disk: durable records read back in order, a torn tail discarded by its
checksum, drained segments deleted, one process per spool directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.telemetry.ingest.spool import Spool, SpoolError, client_directory, encode


def spool(directory: Path, segment_bytes: int = 4096) -> Spool:
    s = Spool(directory, max_bytes=1 << 20, segment_bytes=segment_bytes)
    s.open()
    return s


def commit(s: Spool) -> None:
    data, count = s.take_group()
    s.commit_blocking(data)
    s.committed(len(data), count)


def everything(s: Spool) -> list[tuple[str, bytes]]:
    out, cursor = [], s.drained
    while batch := s.read(cursor, 1000):
        out += [(r.topic, r.payload) for r in batch]
        cursor = batch[-1].end
    return out


def test_a_torn_tail_is_discarded_and_the_log_goes_on(tmp_path: Path) -> None:
    s = spool(tmp_path)
    for n in range(50):
        s.append(f"mes/v1/s/a/l/M{n}/telemetry", b"x" * n, 1000 + n)
    commit(s)
    spool_id, active = s.spool_id, tmp_path / s.segments[-1].name
    s.close()
    # A crash in the middle of the next group: a whole record whose body was not fully
    # written (its checksum fails), then half a header.
    record = bytearray(encode("mes/v1/s/a/l/TORN/telemetry", b"y" * 100, 2000))
    record[-10:] = b"\0" * 10
    with open(active, "ab") as handle:
        handle.write(bytes(record) + encode("mes/v1/s/a/l/HALF/telemetry", b"z", 3)[:5])
    torn = os.path.getsize(active)

    again = spool(tmp_path)
    assert again.spool_id == spool_id
    assert again.torn_bytes == len(record) + 5
    assert os.path.getsize(active) == torn - again.torn_bytes
    got = everything(again)
    assert [t for t, _ in got] == [f"mes/v1/s/a/l/M{n}/telemetry" for n in range(50)]
    assert [p for _, p in got] == [b"x" * n for n in range(50)]
    # Appending goes on after the cut.
    again.append("mes/v1/s/a/l/NEXT/telemetry", b"{}", 4000)
    commit(again)
    assert everything(again)[-1] == ("mes/v1/s/a/l/NEXT/telemetry", b"{}")
    assert again.undrained_records == 51
    again.close()


def test_drained_segments_are_deleted_and_figures_follow(tmp_path: Path) -> None:
    s = spool(tmp_path, segment_bytes=1000)
    for n in range(100):
        s.append("mes/v1/s/a/l/M/telemetry", b"p" * 50, n)
        commit(s)
    assert len(s.segments) > 5
    assert s.undrained_records == 100
    before = s.disk_bytes
    first_half = []
    cursor = s.drained
    while len(first_half) < 50:
        batch = s.read(cursor, 50 - len(first_half))
        first_half += batch
        cursor = batch[-1].end
    s.release(first_half[-1].end, len(first_half))
    assert s.undrained_records == 50
    assert s.disk_bytes < before
    files = sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".log")
    assert files == [segment.name for segment in s.segments]
    # Reopened, it drains from a position (PostgreSQL's) and counts what it skipped.
    s.close()
    again = spool(tmp_path, segment_bytes=1000)
    skipped = again.seek_drained(first_half[-1].end)
    assert again.undrained_records == 50
    assert 0 < skipped < again.segments[0].records  # the drained part of the first segment
    assert len(everything(again)) == 50
    again.close()


def test_one_process_per_spool_directory(tmp_path: Path) -> None:
    first = spool(tmp_path)
    with pytest.raises(SpoolError):
        spool(tmp_path)
    first.close()
    spool(tmp_path).close()


def test_each_client_id_has_its_own_directory(tmp_path: Path) -> None:
    a = client_directory(tmp_path, "mes-ingestor-a")
    b = client_directory(tmp_path, "mes-ingestor-b")
    assert a != b
    assert a.parent == b.parent == tmp_path
    assert client_directory(tmp_path, "../../etc").parent == tmp_path
