"""The operator's report form in Chromium, against the production API and the Protheus
simulator: a report followed to delivered, a bad one's error at its field, and a double
submit that makes one report."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import expect

from tests.support.web import (
    DELIVERY_S,
    OPERATOR_KEY,
    PLANT_TIMEZONE,
    System,
    choose,
    fetch,
    local_input,
    new_page,
    open_page,
    plant_now,
    ready,
    screenshot,
    sign_in,
)

SUBMIT = '#report-form [type="submit"]'


async def fill_report(
    page: Any, system: System, *, good: int, start: dt.datetime, end: dt.datetime
) -> str:
    """The form of the order's page filled for its first operation; the operation."""
    await open_page(page, system.base_url, f"ordens/{system.order.key}", "order")
    form = page.locator("#report-form")
    operation = system.order.operations[0]
    await choose(form, "operation", operation)
    # The machine comes from the chosen operation's routing step.
    await expect(form.locator('[name="machine"]')).to_have_value(system.order.machines[operation])
    await choose(form, "operator", "OP0001")
    await choose(form, "start", local_input(start))
    await choose(form, "end", local_input(end))
    await choose(form, "goodQuantity", str(good))
    await choose(form, "scrapQuantity", "1")
    await choose(form, "scrapReason", "REBARBA")
    return operation


async def reports_of(system: System, good: int) -> list[Any]:
    return await fetch(
        system.mes_dsn,
        "SELECT id, status FROM production_reports WHERE order_key = $1 AND good_quantity = $2",
        system.order.key,
        good,
    )


async def test_an_operator_report_is_followed_to_delivered(page: Any, web_system: System) -> None:
    now = plant_now()
    await fill_report(
        page,
        web_system,
        good=11,
        start=now - dt.timedelta(hours=2),
        end=now - dt.timedelta(hours=1),
    )
    await page.click(SUBMIT)
    line = page.locator("[data-report-id][data-status]")
    await expect(line).to_have_count(1)
    await expect(line).to_have_attribute("data-status", "delivered", timeout=DELIVERY_S * 1000)
    report_id = await line.get_attribute("data-report-id")
    await screenshot(page, "order")
    (row,) = await reports_of(web_system, 11)
    assert (str(row["id"]), row["status"]) == (report_id, "delivered")


async def test_a_bad_report_shows_the_api_error_at_its_field(page: Any, web_system: System) -> None:
    now = plant_now()
    # The end before the start: the API's 400 names `end` in its details.
    await fill_report(
        page,
        web_system,
        good=12,
        start=now - dt.timedelta(hours=1),
        end=now - dt.timedelta(hours=2),
    )
    await page.click(SUBMIT)
    error = page.locator('[data-error-for="end"]')
    await expect(error).not_to_have_text("")
    await expect(error).to_be_visible()
    await screenshot(page, "order-error")
    assert await reports_of(web_system, 12) == []


@pytest.mark.parametrize(("how", "good"), [("two clicks", 13), ("Enter twice", 14)])
async def test_a_double_submit_makes_one_report(
    page: Any, web_system: System, how: str, good: int
) -> None:
    now = plant_now()
    await fill_report(
        page,
        web_system,
        good=good,
        start=now - dt.timedelta(hours=3),
        end=now - dt.timedelta(hours=2),
    )
    if how == "two clicks":  # a double tap: both clicks before the page answers the first
        await page.locator(SUBMIT).evaluate("b => { b.click(); b.click(); }")
    else:
        await page.press('#report-form [name="goodQuantity"]', "Enter")
        await page.press('#report-form [name="goodQuantity"]', "Enter")
    line = page.locator("[data-report-id][data-status]")
    await expect(line.first).to_have_attribute(
        "data-status", "delivered", timeout=DELIVERY_S * 1000
    )
    ids = {await one.get_attribute("data-report-id") for one in await line.all()}
    rows = await reports_of(web_system, good)
    assert len(rows) == 1, rows
    assert ids == {str(rows[0]["id"])}


async def test_a_resubmit_after_a_lost_answer_reuses_the_idempotency_key(
    page: Any, web_system: System
) -> None:
    """The first POST reaches the server but its answer is lost (the network drops): the
    operator sends again, with the same Idempotency-Key, and one report exists."""
    keys: list[str | None] = []

    async def lose_first_answer(route: Any) -> None:
        if route.request.method != "POST":
            await route.continue_()
            return
        keys.append(route.request.headers.get("idempotency-key"))
        if len(keys) == 1:
            await route.fetch()  # the server accepts the report...
            await route.abort("connectionreset")  # ...and the page never hears it
        else:
            await route.continue_()

    now = plant_now()
    await fill_report(
        page, web_system, good=15, start=now - dt.timedelta(hours=4),
        end=now - dt.timedelta(hours=3),
    )  # fmt: skip
    await page.route("**/api/v1/production-reports", lose_first_answer)
    await page.click(SUBMIT)
    await expect(page.locator('[data-error-for="form"]')).not_to_have_text("")
    assert len(await reports_of(web_system, 15)) == 1  # it did reach the server
    await page.click(SUBMIT)
    line = page.locator("[data-report-id][data-status]")
    await expect(line).to_have_attribute("data-status", "delivered", timeout=DELIVERY_S * 1000)
    rows = await reports_of(web_system, 15)
    assert len(rows) == 1, rows
    assert await line.get_attribute("data-report-id") == str(rows[0]["id"])
    assert len(keys) == 2, keys
    assert keys[0]
    assert keys[0] == keys[1]


async def test_an_operator_on_a_utc_tablet_reports_in_plant_time(
    browser: Any, web_system: System
) -> None:
    """A key without telemetry:read never sees a plant time from the telemetry; the session's
    time zone still makes the form's times plant time on a tablet set to UTC."""
    page = await new_page(browser, timezone_id="UTC")
    await sign_in(page, web_system.base_url, OPERATOR_KEY)
    await page.wait_for_selector(ready("orders"))
    plant = ZoneInfo(PLANT_TIMEZONE)
    start = (plant_now() - dt.timedelta(hours=6)).replace(second=0, microsecond=0)
    end = start + dt.timedelta(minutes=30)
    await fill_report(page, web_system, good=16, start=start, end=end)
    await page.click(SUBMIT)
    await expect(page.locator("[data-report-id][data-status]")).to_have_count(1)
    (row,) = await fetch(
        web_system.mes_dsn,
        "SELECT start_at, end_at FROM production_reports WHERE order_key = $1"
        " AND good_quantity = 16",
        web_system.order.key,
    )
    assert row["start_at"].astimezone(plant).replace(tzinfo=None) == start.replace(tzinfo=None)
    assert row["end_at"] == end
