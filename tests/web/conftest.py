"""Browser test fixtures: one real system per worker (tests/support/web.py), Debian's Chromium
per test, a page signed in with the admin key."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from playwright.async_api import async_playwright

from tests.support.databases import Reaper, create_database, run_async
from tests.support.web import ADMIN_KEY, System, SystemThread, launch, new_page, ready, sign_in


@pytest.fixture(scope="session")
def web_system(
    template_database: Callable[[str], str], database_reaper: Reaper, tmp_path_factory: Any
) -> Iterator[System]:
    """Broker, simulator and the composed app on the run's own copies of the MES and tiny
    demo databases; shared by the browser tests of a worker (each makes its own rows)."""
    mes = run_async(lambda: create_database("t_web_mes_", template=template_database("mes")))
    demo = run_async(lambda: create_database("t_web_demo_", template=template_database("demo")))
    running = SystemThread(mes, demo, tmp_path_factory.mktemp("web"))
    try:
        yield running.start()
    finally:
        running.stop()
        database_reaper.drop([mes, demo])


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async with async_playwright() as playwright:
        chromium = await launch(playwright)
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
async def page(browser: Any, web_system: System) -> Any:
    """A tablet-sized page signed in with the admin key, on the plant page."""
    page = await new_page(browser)
    await sign_in(page, web_system.base_url, ADMIN_KEY)
    await page.wait_for_selector(ready("plant"))
    return page
