"""The operator's report form in Chromium, against the production API and the Protheus
simulator: a report followed to delivered, a bad one's error at its field, and a double
submit that makes one report."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from playwright.async_api import expect

from tests.support.web import (
    DELIVERY_S,
    System,
    choose,
    fetch,
    local_input,
    open_page,
    plant_now,
    screenshot,
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
