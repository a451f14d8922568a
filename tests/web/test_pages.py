"""Sign-in and scopes in Chromium, and every page drawn with the system's data (a screenshot
of each under .artifacts/screenshots/)."""

from __future__ import annotations

from typing import Any

from playwright.async_api import expect

from tests.support.web import (
    READER_KEY,
    System,
    new_page,
    open_page,
    ready,
    screenshot,
    sign_in,
)


async def test_a_bad_key_is_refused_at_sign_in(browser: Any, web_system: System) -> None:
    page = await new_page(browser)
    await sign_in(page, web_system.base_url, "not-a-key-of-this-plant-0123456789")
    error = page.locator('#signin [data-error-for="form"], #signin [role="alert"]').first
    await expect(error).not_to_have_text("")
    await expect(page.locator(ready("signin"))).to_have_count(1)
    assert await page.evaluate("sessionStorage.getItem('mes.apiKey')") is None
    await screenshot(page, "signin")


async def test_a_telemetry_reader_sees_the_plant_and_no_report_form(
    browser: Any, web_system: System
) -> None:
    page = await new_page(browser)
    await sign_in(page, web_system.base_url, READER_KEY)
    await page.wait_for_selector(ready("plant"))
    for machine in web_system.machines:
        await expect(page.locator(f'a.machine[data-machine="{machine}"]')).to_have_count(1)
    # No production scope: no way to the orders or the stops is offered.
    assert await page.locator('a[href^="#/ordens"], a[href^="#/paradas"]').count() == 0
    await page.goto(f"{web_system.base_url}/#/ordens/{web_system.order.key}")
    await page.wait_for_selector(ready("order"))
    await expect(page.locator("main .notice")).to_contain_text("não dá acesso a esta página")
    assert await page.locator("#report-form").count() == 0
    await screenshot(page, "order-telemetry-reader")


async def test_every_page_is_drawn(page: Any, web_system: System) -> None:
    machine = web_system.order.machines[web_system.order.operations[0]]
    for code in web_system.machines:  # Protheus's other machines (SH1) are tiles too
        await expect(page.locator(f'a.machine[data-machine="{code}"]')).to_have_count(1)
    await screenshot(page, "plant")
    await open_page(page, web_system.base_url, f"maquinas/{machine}", "machine")
    await screenshot(page, "machine")
    await open_page(page, web_system.base_url, "ordens", "orders")
    await expect(page.locator(f'[data-order="{web_system.order.key}"]')).to_have_count(1)
    await expect(page.locator('select[name="status"]')).to_have_count(1)
    await screenshot(page, "orders")
    await open_page(page, web_system.base_url, f"ordens/{web_system.order.key}", "order")
    await expect(page.locator("#report-form")).to_have_count(1)
    await screenshot(page, "order")
    await open_page(page, web_system.base_url, "paradas", "stops")
    await expect(page.locator('[data-chart="pareto"]')).to_have_count(1)
    await screenshot(page, "stops")
    await open_page(page, web_system.base_url, "manutencao", "maintenance")
    await screenshot(page, "maintenance")


async def test_the_key_is_not_left_for_the_password_manager(
    browser: Any, web_system: System
) -> None:
    page = await new_page(browser)
    await page.goto(f"{web_system.base_url}/#/entrar")
    await page.wait_for_selector(ready("signin"))
    assert await page.get_attribute("#api-key", "autocomplete") == "off"
    # The key typed stays out of the field once signed in (the sign-in page shows again
    # only after signing out; its input is then empty).
    await page.fill("#api-key", READER_KEY)
    value = await page.evaluate(
        """() => new Promise((resolve) => {
             const input = document.querySelector('#api-key');
             document.querySelector('#signin').requestSubmit();
             const check = () => (sessionStorage.getItem('mes.apiKey')
               ? resolve(input.value) : setTimeout(check, 20));
             check();
           })"""
    )
    assert value == ""


async def test_a_page_module_gone_after_a_redeploy_reloads_the_app_once(
    page: Any, web_system: System
) -> None:
    loads: list[str] = []
    page.on("load", lambda _: loads.append("load"))
    gone = {"left": 1}

    async def first_gone(route: Any) -> None:
        if gone["left"]:
            gone["left"] -= 1
            await route.fulfill(status=404, body="not found")
        else:
            await route.continue_()

    await page.route("**/static/*/pages/orders.js", first_gone)
    await page.evaluate("location.hash = '#/ordens'")
    await page.wait_for_selector(ready("orders"))
    await expect(page.locator(f'[data-order="{web_system.order.key}"]')).to_have_count(1)
    assert loads == ["load"]  # one reload, and the key survived it
    assert await page.evaluate("sessionStorage.getItem('mes.apiKey')")
