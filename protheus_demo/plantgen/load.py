"""load(): the generated plant into an MES database with COPY (machines, states, counters,
samples), the day partitions of telemetry_samples created first."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from itertools import islice

import asyncpg

from protheus_demo.plantgen.model import PlantData, Sample
from services.telemetry.partitions import ensure_partitions
from shared.db.pools import Connection

CHUNK_ROWS = 200_000  # samples per COPY: bounds memory and each statement's transition table

UPSERT_MACHINE = """
INSERT INTO machines (machine, site, area, line, first_seen, last_seen)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (machine) DO UPDATE SET site = EXCLUDED.site, area = EXCLUDED.area,
    line = EXCLUDED.line, first_seen = LEAST(machines.first_seen, EXCLUDED.first_seen),
    last_seen = GREATEST(machines.last_seen, EXCLUDED.last_seen)
"""


def _chunks(rows: Iterator[Sample], size: int) -> Iterator[list[Sample]]:
    while chunk := list(islice(rows, size)):
        yield chunk


async def load(
    target: Connection | asyncpg.Pool, data: PlantData, *, chunk_rows: int = CHUNK_ROWS
) -> dict[str, int]:
    """Copy the data into the MES tables; row counts per table. The next chunk of samples
    is computed in a thread while the server stores the previous one."""
    if isinstance(target, asyncpg.Pool):
        async with target.acquire() as conn:
            return await _load(conn, data, chunk_rows)
    return await _load(target, data, chunk_rows)


async def _load(conn: Connection, data: PlantData, chunk_rows: int) -> dict[str, int]:
    last = data.end - dt.timedelta(seconds=data.step_s)
    await conn.executemany(
        UPSERT_MACHINE, [(m, s, a, line, data.start, last) for m, s, a, line in data.machines]
    )
    days = (data.end - data.start).days + 2
    await ensure_partitions(conn, {data.start.date() + dt.timedelta(days=n) for n in range(days)})
    await conn.copy_records_to_table(
        "machine_states", records=data.states, columns=["machine", "ts", "state", "reason"]
    )
    await conn.copy_records_to_table(
        "machine_counters",
        records=data.counters,
        columns=["machine", "ts", "good", "scrap", "order_key"],
    )
    chunks = _chunks(data.samples(), chunk_rows)
    samples = 0
    pending = asyncio.create_task(asyncio.to_thread(next, chunks, None))
    try:
        while (chunk := await pending) is not None:
            pending = asyncio.create_task(asyncio.to_thread(next, chunks, None))
            await conn.copy_records_to_table(
                "telemetry_samples", records=chunk, columns=["machine", "metric", "ts", "value"]
            )
            samples += len(chunk)
    finally:
        if not pending.done():  # a failed COPY: let the thread finish its chunk
            await asyncio.wait([pending])
    return {
        "machines": len(data.machines),
        "states": len(data.states),
        "counters": len(data.counters),
        "samples": samples,
    }
