"""The analytics views over crafted MES rows and the synced demo: trimmed codes, real dates,
instants in UTC and plant time, reports linked to their SH6 appointment, states lasting to
the next one, shifts from SHIFT_CALENDAR, a calendar covering every fact."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import asyncpg

from shared.protheus.sql import marker
from tests.support.analytics import dimension_sync

UTC = dt.UTC
T0 = dt.datetime(2024, 3, 4, 12, 0, tzinfo=UTC)  # 09:00 in São Paulo (UTC-3)


async def add_mes_rows(mes: asyncpg.Connection, report_id: uuid.UUID, lonely: uuid.UUID) -> None:
    report = """
        INSERT INTO production_reports (id, client, branch, order_key, operation, machine,
            operator, start_at, end_at, good_quantity, scrap_quantity, final, status)
        VALUES ($1, 'test', '01', $2, '10', 'SOLDA2', '000001', $3, $4, $5, 0, false, $6)
    """
    await mes.execute(
        report, report_id, "00010201001", T0, T0 + dt.timedelta(hours=1), 40, "delivered"
    )
    await mes.execute(report, lonely, "00010201001", T0, T0 + dt.timedelta(hours=2), 7, "pending")
    await mes.execute(
        "INSERT INTO machines (machine, site, area, line, last_seen) "
        "VALUES ('SOLDA2', 'SP', 'ESTAMPARIA', 'L1', $1), ('SENSOR9', 'SP', 'UTIL', 'L9', $1)",
        T0,
    )
    await mes.executemany(
        "INSERT INTO machine_states (machine, ts, state) VALUES ('SOLDA2', $1, $2)",
        [(T0, "running"), (T0 + dt.timedelta(minutes=30), "stopped")],
    )
    await mes.execute(
        "INSERT INTO machine_counters (machine, ts, good, scrap) VALUES ('SOLDA2', $1, 12, 1)",
        T0 - dt.timedelta(days=3),
    )
    await mes.execute(
        "INSERT INTO stops (id, machine, branch, state, start_at, end_at, reason_code, status) "
        "VALUES ($1, 'SOLDA2', '01', 'stopped', $2, $3, '01', 'pending')",
        uuid.uuid4(),
        T0 + dt.timedelta(minutes=30),
        T0 + dt.timedelta(minutes=45),
    )


async def test_views_give_clean_types_links_and_plant_time(
    analytics_app: Any, demo_dsn: str, mes_dsn: str
) -> None:
    report_id, lonely = uuid.uuid4(), uuid.uuid4()
    erp = await asyncpg.connect(demo_dsn)
    try:
        # The appointment the pusher made for the report: its marker in H6_OBSERVA.
        recno = await erp.fetchval("SELECT max(r_e_c_n_o_) + 1 FROM sh6010")
        await erp.execute(
            "INSERT INTO sh6010 (h6_filial, h6_op, h6_produto, h6_operac, h6_recurso, h6_dataini,"
            " h6_horaini, h6_datafin, h6_horafin, h6_qtdprod, h6_qtdperd, h6_pt, h6_tipo,"
            " h6_dtapont, h6_observa, h6_ident, r_e_c_n_o_) VALUES ('01', '00010201001   ',"
            " '30200034', '10', 'SOLDA2', '20240304', '09:00', '20240304', '10:00', 40, 0, 'P',"
            " 'P', '20240304', $1, '999999', $2)",
            f"{marker(report_id)} apontado pelo MES",
            recno,
        )
    finally:
        await erp.close()
    client = await analytics_app(shift_calendar="mon-fri 06:00-14:00 14:00-22:00; sat 22:00-06:00")
    await dimension_sync(client.app).run()

    mes = await asyncpg.connect(mes_dsn)
    try:
        await add_mes_rows(mes, report_id, lonely)

        linked = await mes.fetchrow(
            "SELECT * FROM analytics.production WHERE report_id = $1", report_id
        )
        assert linked["protheus_recno"] == recno
        assert linked["appointment_id"] == "999999"
        assert linked["source"] == "mes"
        assert linked["start_utc"] == dt.datetime(2024, 3, 4, 12, 0)
        assert linked["start_local"] == dt.datetime(2024, 3, 4, 9, 0)
        assert linked["order_key"] == "00010201001"
        # Its appointment is not listed a second time as a Protheus-only one.
        assert (
            await mes.fetchval(
                "SELECT count(*) FROM analytics.production WHERE protheus_recno = $1", recno
            )
            == 1
        )
        pending = await mes.fetchrow(
            "SELECT * FROM analytics.production WHERE report_id = $1", lonely
        )
        assert pending["protheus_recno"] is None
        assert pending["report_status"] == "pending"
        erp_only = await mes.fetchrow(
            "SELECT * FROM analytics.production WHERE report_id IS NULL ORDER BY protheus_recno LIMIT 1"
        )
        assert erp_only["source"] == "protheus"
        assert erp_only["order_key"] == erp_only["order_key"].strip()
        assert isinstance(erp_only["start_local"], dt.datetime)
        assert isinstance(erp_only["appointed_on"], dt.date)
        # SH6 local times are the Protheus hours; UTC is three hours later in São Paulo.
        assert erp_only["start_utc"] - erp_only["start_local"] == dt.timedelta(hours=3)

        machines = {r["machine"]: r for r in await mes.fetch("SELECT * FROM analytics.machines")}
        assert machines["SENSOR9"]["in_protheus"] is False
        assert machines["SENSOR9"]["line"] == "L9"
        in_erp = [r for r in machines.values() if r["in_protheus"]]
        assert in_erp
        assert all(r["machine"] == r["machine"].strip() and r["description"] for r in in_erp)

        states = await mes.fetch("SELECT * FROM analytics.states ORDER BY start_utc")
        assert states[0]["end_utc"] == states[1]["start_utc"]
        assert states[0]["duration_s"] == 1800
        assert states[1]["end_utc"] is None

        stop = await mes.fetchrow("SELECT * FROM analytics.stops")
        assert stop["reason"] == "FALTA DE MATERIAL"
        assert stop["duration_s"] == 900

        shifts = await mes.fetch("SELECT * FROM analytics.shifts ORDER BY shift, weekday")
        assert [(s["shift"], s["weekday"]) for s in shifts][:5] == [(1, d) for d in range(1, 6)]
        night = [s for s in shifts if s["shift"] == 3]
        assert [
            (s["weekday"], s["start_time"], s["end_time"], s["ends_next_day"]) for s in night
        ] == [(6, dt.time(22), dt.time(6), True)]
        assert night[0]["minutes"] == 480

        days = await mes.fetch("SELECT date FROM analytics.calendar ORDER BY date")
        first_fact = (T0 - dt.timedelta(days=3)).date()
        assert days[0]["date"] <= first_fact
        assert days[-1]["date"] >= dt.date.today() + dt.timedelta(days=364)
        assert len(days) == (days[-1]["date"] - days[0]["date"]).days + 1

        codes = await mes.fetch("SELECT code, description FROM analytics.stop_reasons")
        assert codes
        assert all(r["code"] == r["code"].strip() and r["description"] for r in codes)
    finally:
        await mes.close()
