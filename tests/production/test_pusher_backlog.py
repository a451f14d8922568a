"""The outbox with a backlog: the heads per order and operation, kept right and cheap to claim."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import uuid
from typing import Any

import asyncpg
import orjson

from services.production.pusher import queries
from tests.support.production import drain, final, markers

PAIRS = [("0000010001001", "10"), ("0000010001001", "20"), ("0000020001001", "10")]

# What the heads must be: per key, the outbox's earliest report (by acceptance) and its count,
# computed from the reports themselves.
EXPECTED_HEADS = """
SELECT DISTINCT ON (r.branch, r.order_key, r.operation)
       r.branch, r.order_key, r.operation, r.id AS report_id, r.seq,
       count(*) OVER (PARTITION BY r.branch, r.order_key, r.operation) AS depth
FROM report_outbox o JOIN production_reports r ON r.id = o.report_id
ORDER BY r.branch, r.order_key, r.operation, r.seq
"""
HEADS = """
SELECT branch, order_key, operation, report_id, seq, depth FROM report_outbox_heads
ORDER BY branch, order_key, operation
"""


async def add_reports(
    conn: asyncpg.Connection,
    pairs: list[tuple[str, str]],
    per_pair: int,
    *,
    branch: str = "01",
    item: tuple[str, str] = ("", ""),
    machine: str = "M1",
    delivered: bool = False,
) -> list[uuid.UUID]:
    """Reports accepted in turn over the pairs (round robin), queued (or already delivered);
    their ids in order."""
    ids = []
    start = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)
    rows = []
    for n in range(per_pair):
        for order_key, operation in pairs:
            report_id = uuid.uuid4()
            ids.append(report_id)
            at = start + dt.timedelta(minutes=len(rows))
            rows.append((
                report_id, "t", branch, order_key, operation, machine, "OP0001", at,
                at + dt.timedelta(minutes=30), n + 1, 0, False, item[0], item[1],
                "delivered" if delivered else "pending",
            ))  # fmt: skip
    columns = (
        "id", "client", "branch", "order_key", "operation", "machine", "operator", "start_at",
        "end_at", "good_quantity", "scrap_quantity", "final", "item_code", "warehouse", "status",
    )  # fmt: skip
    async with conn.transaction():
        await conn.copy_records_to_table("production_reports", records=rows, columns=columns)
        if not delivered:
            await conn.copy_records_to_table(
                "report_outbox", records=[(i,) for i in ids], columns=("report_id",)
            )
    return ids


async def assert_heads_right(conn: asyncpg.Connection) -> None:
    async with conn.transaction(isolation="repeatable_read", readonly=True):  # one snapshot
        expected = [dict(r) for r in await conn.fetch(EXPECTED_HEADS)]
        heads = [dict(r) for r in await conn.fetch(HEADS)]
    assert heads == expected


async def claim(conn: asyncpg.Connection, name: str, *, batch: int = 50, lease: float = 5) -> set:
    rows = await queries.claim(conn, batch=batch, lease_s=lease, pusher=name)
    return {r["report_id"] for r in rows}


async def finish(conn: asyncpg.Connection, report_id: uuid.UUID, status: str, name: str) -> None:
    async with conn.transaction():
        await queries.finish(
            conn, document_id=report_id, status=status, id_appointment=None, error=None, pusher=name
        )


async def test_only_heads_are_claimed_a_rejection_frees_the_key_a_retry_holds_it(mes_dsn):
    conn = await asyncpg.connect(mes_dsn)
    try:
        a1, b1, c1, a2, b2, c2, a3, b3, c3 = await add_reports(conn, PAIRS, 3)
        await assert_heads_right(conn)
        assert await claim(conn, "p1") == {a1, b1, c1}
        assert await claim(conn, "p2") == set()  # all three keys are held by p1

        await finish(conn, a1, "rejected", "p1")  # a rejection holds nothing back
        await finish(conn, c1, "delivered", "p1")
        await assert_heads_right(conn)
        later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
        # b1 waits, and so does b2
        await queries.retry(
            conn, document_id=b1, available_at=later, keep_unknown=False, pusher="p1"
        )
        await assert_heads_right(conn)
        assert await claim(conn, "p2") == {a2, c2}

        # A lease that runs out (a pusher killed mid-delivery) gives the head to another.
        await queries.postpone(
            conn, document_id=a2, available_at=dt.datetime.now(dt.UTC), pusher="p2"
        )
        assert await claim(conn, "p3", lease=0.2) == {a2}
        assert await claim(conn, "p1") == set()
        await asyncio.sleep(0.3)
        assert await claim(conn, "p1") == {a2}
        await finish(conn, a2, "delivered", "p3")  # the stale holder changes nothing
        assert await conn.fetchval("SELECT report_id FROM report_outbox_heads WHERE operation = '10' AND order_key = $1", PAIRS[0][0]) == a2  # fmt: skip
        await finish(conn, a2, "delivered", "p1")
        await finish(conn, c2, "delivered", "p2")
        await assert_heads_right(conn)
        assert await claim(conn, "p1") == {a3, c3}
        assert b2 not in await claim(conn, "p1")
        assert b3 not in await claim(conn, "p1")

        # Gone from the outbox: the heads go too.
        for report_id in (a3, c3):
            await finish(conn, report_id, "delivered", "p1")
        await conn.execute("UPDATE report_outbox SET available_at = now() WHERE report_id = $1", b1)
        assert await claim(conn, "p1") == {b1}
        await finish(conn, b1, "delivered", "p1")
        assert await claim(conn, "p1") == {b2}
        await assert_heads_right(conn)
        assert await conn.fetchval("SELECT sum(depth) FROM report_outbox_heads") == 2
        stats = await queries.outbox_stats(conn)
        assert stats["depth"] == 2
    finally:
        await conn.close()


async def test_a_corrected_report_goes_back_ahead_of_later_ones_of_its_key(mes_dsn):
    """A rejected report corrected onto a key takes its place by acceptance order again."""
    conn = await asyncpg.connect(mes_dsn)
    try:
        (x1, y1, x2, y2) = await add_reports(conn, PAIRS[:2], 2)
        await claim(conn, "p1")
        await finish(conn, x1, "rejected", "p1")
        await finish(conn, y1, "delivered", "p1")
        # The correction moves x1 onto y's operation; it was accepted before y2.
        async with conn.transaction():
            await conn.execute(
                "UPDATE production_reports SET operation = $2, status = 'pending' WHERE id = $1",
                x1,
                PAIRS[1][1],
            )
            await conn.execute("INSERT INTO report_outbox (report_id) VALUES ($1)", x1)
        await assert_heads_right(conn)
        assert await claim(conn, "p1") == {x1, x2}
        assert y2 not in await claim(conn, "p2")
    finally:
        await conn.close()


async def test_heads_stay_right_with_concurrent_writers_and_pushers(mes_dsn):
    """Reports accepted, claimed, delivered, rejected and retried concurrently on few keys:
    after it all, the heads are exactly the earliest report per key, and every report left."""
    rng = random.Random(7)
    pool = await asyncpg.create_pool(mes_dsn, min_size=8, max_size=12)
    accepted: list[uuid.UUID] = []
    writing = True

    async def writer() -> None:
        for _ in range(30):
            async with pool.acquire() as conn:
                # Several keys in one transaction: in key order, as the migration asks.
                pairs = sorted(rng.sample(PAIRS, 2))
                accepted.extend(await add_reports(conn, pairs, rng.randint(1, 3)))
            await asyncio.sleep(rng.random() * 0.01)

    async def pusher(name: str) -> None:
        while True:
            async with pool.acquire() as conn:
                claimed = await claim(conn, name, batch=rng.randint(1, 3))
                if (
                    not claimed
                    and not writing
                    and not await conn.fetchval("SELECT count(*) FROM report_outbox")
                ):
                    return
                for report_id in claimed:
                    roll = rng.random()
                    if roll < 0.15:
                        await queries.retry(conn, document_id=report_id, available_at=dt.datetime.now(dt.UTC), keep_unknown=False, pusher=name)  # fmt: skip
                    else:
                        await finish(conn, report_id, "rejected" if roll < 0.3 else "delivered", name)  # fmt: skip
                if rng.random() < 0.3:
                    await assert_heads_right(conn)
            await asyncio.sleep(rng.random() * 0.005)

    async def writers() -> None:
        nonlocal writing
        await asyncio.gather(*(writer() for _ in range(3)))
        writing = False

    try:
        await asyncio.wait_for(
            asyncio.gather(writers(), *(pusher(f"p{n}") for n in range(5))), timeout=60
        )
        async with pool.acquire() as conn:
            await assert_heads_right(conn)
            assert await conn.fetchval("SELECT count(*) FROM report_outbox_heads") == 0
            left = await conn.fetchval(
                "SELECT count(*) FROM production_reports WHERE status NOT IN ('delivered', 'rejected')"
            )
            assert (left, await conn.fetchval("SELECT count(*) FROM production_reports")) == (
                0,
                len(accepted),
            )
    finally:
        await pool.close()


def _scanned(plan: dict[str, Any]) -> int:
    """Rows all the plan's nodes produced, loops included."""
    own = int(plan.get("Actual Rows", 0) * plan.get("Actual Loops", 1))
    return own + sum(_scanned(p) for p in plan.get("Plans", []))


async def test_the_claim_reads_the_batch_not_the_backlog(mes_dsn):
    """At 20,000 reports over 100 keys, behind 10,000 delivered earlier, a claim of 20
    touches about 20 rows per node."""
    conn = await asyncpg.connect(mes_dsn)
    try:
        pairs = [(f"{n:06d}01001", "10") for n in range(100)]
        await add_reports(conn, pairs, 100, delivered=True)
        await add_reports(conn, pairs, 200)
        await conn.execute("ANALYZE")
        await assert_heads_right(conn)
        rollback = conn.transaction()  # the plan's figures are all that is needed
        await rollback.start()
        plan = orjson.loads(
            await conn.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {queries.CLAIM}", 20, 5.0, "p1")
        )[0]["Plan"]
        await rollback.rollback()
        assert _scanned(plan) < 400, plan
        assert await claim(conn, "p1", batch=20) == {
            r["report_id"]
            for r in await conn.fetch(
                "SELECT report_id FROM report_outbox_heads ORDER BY seq LIMIT 20"
            )
        }
    finally:
        await conn.close()


async def test_reports_of_each_operation_reach_protheus_in_order_at_depth_through_faults(
    setup_line,
    protheus_dsn,
    mes_dsn,
):
    """Two pushers, a backlog over several order/operation pairs, 30% mixed faults: every
    report once in SH6, and each pair's appointments in the order the reports were accepted."""
    erp = await asyncpg.connect(protheus_dsn)
    try:
        rows = await erp.fetch(
            """SELECT rtrim(c2_num) || rtrim(c2_item) || rtrim(c2_sequen) || rtrim(c2_itemgrd) AS key,
                      c2.c2_produto, c2.c2_local, g2.g2_operac, g2.g2_recurso
               FROM sc2010 c2 JOIN sb1010 b1 ON b1.b1_cod = c2.c2_produto AND b1.d_e_l_e_t_ = ' '
               JOIN sg2010 g2 ON g2.g2_filial = c2.c2_filial AND g2.g2_produto = c2.c2_produto
                AND g2.d_e_l_e_t_ = ' '
                AND g2.g2_codigo = (CASE WHEN c2.c2_roteiro <> '' THEN c2.c2_roteiro
                                         WHEN b1.b1_operpad <> '' THEN b1.b1_operpad ELSE '01' END)
               WHERE c2.c2_filial = '01' AND c2.d_e_l_e_t_ = ' ' AND c2.c2_tpop = 'F'
                 AND c2.c2_datrf = '' AND c2.c2_status NOT IN ('U', 'S')
               ORDER BY 1, 4 LIMIT 4"""
        )
    finally:
        await erp.close()
    assert len(rows) == 4
    _client, pusher = await setup_line(error_rate=0.1, drop_before_rate=0.1, drop_after_rate=0.1)
    conn = await asyncpg.connect(mes_dsn)
    try:
        accepted: list[uuid.UUID] = []
        for row in rows:  # each pair its own products and machine
            accepted += await add_reports(
                conn,
                [(row["key"], row["g2_operac"].strip())],
                15,
                item=(row["c2_produto"].strip(), row["c2_local"].strip()),
                machine=row["g2_recurso"].strip(),
            )
        await drain([pusher(), pusher()], final(mes_dsn, len(accepted)), seconds=120)
        reports = {
            r["id"]: r
            for r in await conn.fetch("SELECT id, seq, order_key, operation, status FROM production_reports")
        }  # fmt: skip
    finally:
        await conn.close()
    assert {r["status"] for r in reports.values()} == {"delivered"}
    found = await markers(protheus_dsn)
    assert sorted(found) == sorted(str(i) for i in accepted)
    assert all(len(v) == 1 for v in found.values())
    erp = await asyncpg.connect(protheus_dsn)
    try:
        written = await erp.fetch(
            "SELECT substr(h6_observa, 5, 36) AS id FROM sh6010 WHERE h6_observa LIKE 'MES:%' "
            "AND d_e_l_e_t_ = ' ' ORDER BY r_e_c_n_o_"
        )
    finally:
        await erp.close()
    by_pair: dict[tuple[str, str], list[int]] = {}
    for w in written:
        r = reports[uuid.UUID(w["id"])]
        by_pair.setdefault((r["order_key"], r["operation"]), []).append(r["seq"])
    assert len(by_pair) == 4
    for seqs in by_pair.values():
        assert seqs == sorted(seqs)
