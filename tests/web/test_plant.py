"""The plant page in Chromium: every machine a tile, and a state message from the plant floor
recolours its tile live, within 2 s of the publish (ingest, event stream, page)."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any

from shared.settings import MACHINE_STATES
from tests.support.web import System, publish, screenshot, state

# What a state's colour may be drawn with: any of them differs between two states.
COLOUR = """e => { const s = getComputedStyle(e);
  return [s.backgroundColor, s.backgroundImage, s.borderTopColor, s.borderLeftColor,
          s.color, s.outlineColor, s.boxShadow].join('|'); }"""


def tile(machine: str, state_name: str | None = None) -> str:
    which = f'[data-state="{state_name}"]' if state_name else ""
    return f'a.machine[data-machine="{machine}"]{which}'


async def test_the_plant_shows_every_machine_by_line_with_its_state(
    page: Any, web_system: System
) -> None:
    for machine in web_system.machines:
        link = page.locator(tile(machine))
        assert await link.count() == 1, machine
        assert await link.get_attribute("data-state") in MACHINE_STATES
        assert await link.get_attribute("href") == f"#/maquinas/{machine}"
    await screenshot(page, "plant")


async def test_a_state_message_recolours_the_machine_within_2_s(
    page: Any, web_system: System
) -> None:
    machine = web_system.machines[-1]
    await page.wait_for_selector(tile(machine, "running"))
    # The stream is open before the message: the tile follows it live, not by a poll.
    await page.wait_for_selector('[data-live="sse"]')
    before = await page.locator(tile(machine)).evaluate(COLOUR)
    published = time.monotonic()
    await publish(
        web_system.broker_port,
        [state(machine, "fault", dt.datetime.now(dt.UTC), reason="E42")],
    )
    await page.wait_for_selector(tile(machine, "fault"), timeout=10_000)
    elapsed = time.monotonic() - published
    after = await page.locator(tile(machine)).evaluate(COLOUR)
    await screenshot(page, "plant-fault")
    # Back to running: the fault stays a micro-stop (no stop for the stops page's tests).
    await publish(web_system.broker_port, [state(machine, "running", dt.datetime.now(dt.UTC))])
    assert after != before, "the tile's colour did not change with its state"
    assert elapsed < 2.0, f"the tile changed {elapsed:.2f} s after the publish"


# Chunks cut at every awkward place, the \r of a \r\n line end at a chunk's end included.
PARSE = """async () => {
  const src = document.querySelector('script[type=module][src*="/static/"]').src;
  const { SseParser } = await import(src.replace(/app\\.js$/, "lib/live.js"));
  const got = [];
  const parser = new SseParser((e) => got.push({ type: e.type, data: e.data, id: e.id }));
  for (const chunk of ["event: a\\r", "\\ndata: 1\\r", "\\nid: 7\\r", "\\n\\r", "\\n",
                       ": ping\\r\\n\\r\\n", "data: 2\\n", "\\n"]) {
    parser.feed(chunk);
  }
  return got;
}"""


async def test_the_stream_parser_waits_for_the_newline_after_a_chunks_last_cr(
    page: Any,
) -> None:
    events = await page.evaluate(PARSE)
    real = [e for e in events if e["data"]]
    assert real == [
        {"type": "a", "data": ["1"], "id": "7"},
        {"type": "", "data": ["2"], "id": "7"},
    ]
    assert len(events) == 3  # the ping's blank line: an empty event, never a half one


async def test_a_state_message_during_the_first_load_is_not_lost(
    page: Any, web_system: System
) -> None:
    """The summary leaves the server before a state message and arrives after its event: the
    event, kept while the page loads, wins over the older summary."""
    machine = web_system.machines[0]

    async def hold(route: Any) -> None:
        response = await route.fetch()  # the summary as it was
        await page.wait_for_selector('[data-live="sse"]')
        await publish(web_system.broker_port, [state(machine, "fault", dt.datetime.now(dt.UTC))])
        await asyncio.sleep(3.0)  # the event reaches the page meanwhile
        await route.fulfill(response=response)

    await page.route("**/api/v1/plant*", hold)
    await page.reload()
    try:
        await page.wait_for_selector(tile(machine, "fault"), timeout=15_000)
    finally:
        await page.unroute("**/api/v1/plant*")
        await publish(web_system.broker_port, [state(machine, "running", dt.datetime.now(dt.UTC))])
