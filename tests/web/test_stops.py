"""A stop made by the plant's state messages, classified from the stops page in Chromium,
reaches Protheus through the pusher (the simulator's SH6 holds it; the stop is delivered)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from playwright.async_api import expect

from tests.support.stop_push import stop_rows_in_sh6
from tests.support.web import (
    DELIVERY_S,
    System,
    fetch,
    open_page,
    publish,
    screenshot,
    state,
    wait_for,
)


async def test_a_stop_classified_on_the_page_reaches_the_simulator(
    page: Any, web_system: System
) -> None:
    machine = web_system.machines[-2]
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    # Stopped 5 min without a PLC reason the mapping knows: an unclassified stop.
    await publish(
        web_system.broker_port,
        [
            state(machine, "stopped", now - dt.timedelta(minutes=15)),
            state(machine, "running", now - dt.timedelta(minutes=10)),
        ],
    )
    stop_id = await wait_for(
        web_system.mes_dsn,
        "SELECT id FROM stops WHERE machine = $1 AND status = 'unclassified'",
        machine,
        seconds=30,
    )
    assert stop_id, "the detector made no unclassified stop"
    await open_page(page, web_system.base_url, "paradas", "stops")
    row = page.locator(f'[data-stop-id="{stop_id}"]')
    await expect(row).to_have_count(1)
    reasons = row.locator('select[name="reason"]')
    values = [
        v for v in await reasons.locator("option").evaluate_all("os => os.map(o => o.value)") if v
    ]
    assert values, "no stop reason to choose"
    await reasons.select_option(values[0])
    await screenshot(page, "stops")
    await row.locator('[data-action="classify"]').click()
    status = await wait_for(
        web_system.mes_dsn,
        "SELECT status = 'delivered' FROM stops WHERE id = $1",
        stop_id,
        seconds=DELIVERY_S,
    )
    (stored,) = await fetch(
        web_system.mes_dsn, "SELECT status, reason_code, error FROM stops WHERE id = $1", stop_id
    )
    assert status, dict(stored)
    assert stored["reason_code"] == values[0]
    in_sh6 = await stop_rows_in_sh6(web_system.protheus_dsn)
    (sh6,) = in_sh6[uuid.UUID(str(stop_id))]
    assert (sh6["h6_recurso"], sh6["h6_motivo"], sh6["d_e_l_e_t_"]) == (machine, values[0], " ")
