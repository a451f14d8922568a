"""Browser test support (tests/web): a real system on spare ports, Debian's Chromium driven by
Playwright, a signed-in page, screenshots and the plant's MQTT messages.

The system is what `make run` serves, started the same way but on the test's own databases and
broker: the devserver's composed app (every service, the web app included) with its
background tasks (ingestor, stop detector, pusher), the Protheus REST simulator writing into a
copy of the tiny demo database, and a Mosquitto of its own (deploy/mosquitto's settings). It
runs on a loop of its own thread, so one system serves every browser test of a worker while
each test keeps its own event loop; delays are the tests' fast settings (ingest flush 50 ms,
pusher poll 50 ms, stop detection poll 100 ms).

Chromium is Debian's (`/usr/bin/chromium`, installed by scripts/ensure-services.sh): Playwright
drives it through its `executable_path`, never a browser of its own (no `playwright install`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import shutil
import threading
import time
import uuid
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import aiomqtt
import asyncpg
import orjson
from aiohttp import web

from deploy.supervisor import free_port
from shared.settings import (
    AnalyticsSettings,
    Settings,
    StopSettings,
    WebSettings,
    parse_api_keys,
)
from tests.helpers import NO_AUDIT
from tests.support import production as production_support
from tests.support import telemetry as telemetry_support
from tests.support.simulator import DemoOrder, find_order
from tests.support.stop_push import machines as demo_machines

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[2]  # the repository
SCREENSHOTS = ROOT / ".artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
# WEB.md: Debian's Chromium, headless, nothing it would fetch or update on its own.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PLANT_TIMEZONE = "America/Sao_Paulo"  # Settings' default PLANT_TIMEZONE
TABLET = {"width": 1280, "height": 800}  # a 10" tablet held landscape

ADMIN_KEY = "web-admin-key-0123456789abcdef"
READER_KEY = "web-reader-key-0123456789abcdef"
OPERATOR_KEY = "web-operator-key-0123456789abcd"
KEYS = (
    f"supervisor:{ADMIN_KEY}:admin;painel:{READER_KEY}:telemetry:read;"
    f"operador:{OPERATOR_KEY}:production:read,production:write"
)

SITE, AREA, LINE = "porto", "estamparia", "linha1"
PLANT_MACHINES = 6  # SH1 machines of the tiny demo on the plant page

# Playwright waits (milliseconds): generous, the machine is shared and loaded.
READY_MS = 20_000
DELIVERY_S = 45.0


def ready(page: str | None = None) -> str:
    """The selector of a page drawn with its data (WEB.md: main[data-page][data-ready])."""
    which = f'[data-page="{page}"]' if page else ""
    return f'main{which}[data-ready="true"]'


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        return (
            f"{CHROMIUM} not found: Debian's chromium is installed by scripts/ensure-services.sh "
            "(make services / make test), as root: apt-get install chromium chromium-driver"
        )
    return None


async def launch(playwright: Any) -> Any:
    """Debian's Chromium, headless, through Playwright; fails clearly when it is missing."""
    problem = chromium_missing()
    if problem:
        raise RuntimeError(problem)
    return await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


async def new_page(browser: Any, timezone_id: str = PLANT_TIMEZONE) -> Any:
    """A tablet-sized page in the plant's language and (unless told) time zone; the page shows
    and takes times in the plant's zone whatever the tablet's."""
    context = await browser.new_context(viewport=TABLET, locale="pt-BR", timezone_id=timezone_id)
    context.set_default_timeout(READY_MS)
    return await context.new_page()


async def sign_in(page: Any, base_url: str, key: str) -> None:
    """The sign-in page (#/entrar): the key in #api-key, the form #signin submitted."""
    await page.goto(f"{base_url}/#/entrar")
    await page.wait_for_selector(ready("signin"))
    await page.fill("#api-key", key)
    await page.press("#api-key", "Enter")


async def open_page(page: Any, base_url: str, route: str, name: str) -> None:
    """Go to a hash route and wait until that page says it is drawn."""
    await page.goto(f"{base_url}/#/{route}")
    await page.wait_for_selector(ready(name))


async def screenshot(page: Any, name: str) -> Path:
    """`.artifacts/screenshots/<name>.png` (the run's artifacts, gitignored)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    # From the top: a full-page shot of a scrolled page draws the sticky header mid-page.
    await page.evaluate("window.scrollTo(0, 0)")
    await page.screenshot(path=str(path), full_page=True)
    return path


async def choose(form: Any, name: str, value: str) -> None:
    """Set a form control by its name, whatever kind it is (input, select, checkbox)."""
    control = form.locator(f'[name="{name}"]')
    tag = await control.evaluate("e => e.tagName.toLowerCase() + ':' + (e.type || '')")
    if tag.startswith("select"):
        await control.select_option(value)
    elif tag.endswith(":checkbox"):
        await control.set_checked(value not in ("", "false", "0"))
    else:
        await control.fill(value)


def plant_now() -> dt.datetime:
    return dt.datetime.now(ZoneInfo(PLANT_TIMEZONE))


def local_input(at: dt.datetime) -> str:
    """A datetime-local field's value (plant time, minutes)."""
    return at.astimezone(ZoneInfo(PLANT_TIMEZONE)).strftime("%Y-%m-%dT%H:%M")


def topic(machine: str, channel: str) -> str:
    return f"mes/v1/{SITE}/{AREA}/{LINE}/{machine}/{channel}"


def state(machine: str, name: str, at: dt.datetime, reason: str | None = None) -> tuple[str, Any]:
    payload: dict[str, Any] = {"ts": at.isoformat(), "state": name}
    if reason:
        payload["reason"] = reason
    return topic(machine, "state"), payload


async def publish(port: int, messages: list[tuple[str, Any]]) -> None:
    """(topic, payload) pairs at QoS 1, each acknowledged by the broker before this returns."""
    async with aiomqtt.Client(
        "127.0.0.1", port, identifier=f"plc-{uuid.uuid4().hex[:8]}"
    ) as client:
        for name, payload in messages:
            await client.publish(name, orjson.dumps(payload), qos=1)


async def fetch(dsn: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def wait_for(dsn: str, sql: str, *args: Any, seconds: float = DELIVERY_S) -> Any:
    """Poll a one-value query until it answers something true (bounded); the last answer
    (None while it finds no row)."""
    deadline = time.monotonic() + seconds
    while True:
        found = await fetch(dsn, sql, *args)
        value = found[0][0] if found else None
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.1)


@dataclasses.dataclass
class System:
    """The running system: where it answers and what it was seeded with."""

    base_url: str
    rest_url: str
    broker_port: int
    mes_dsn: str
    protheus_dsn: str
    order: DemoOrder
    machines: list[str]  # on the plant page, each with a state


class SystemThread:
    """Broker, simulator and composed app on an event loop of their own thread."""

    def __init__(self, mes_dsn: str, protheus_dsn: str, directory: Path) -> None:
        self.mes_dsn, self.protheus_dsn, self.directory = mes_dsn, protheus_dsn, directory
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="web-system", daemon=True)
        self.runners: list[web.AppRunner] = []
        self.broker: telemetry_support.Broker | None = None

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 120) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self) -> System:
        self.thread.start()
        try:
            return self.call(self._up())
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.thread.is_alive():
            self.call(self._down(), timeout=60)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
        self.loop.close()

    async def _serve(self, app: web.Application, port: int) -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        self.runners.append(runner)
        await web.TCPSite(runner, "127.0.0.1", port).start()

    async def _up(self) -> System:
        from devserver.launcher import compose_app
        from protheus_demo.simulator.app import create_simulator
        from protheus_demo.simulator.config import SimulatorConfig
        from services.telemetry.keys import INGESTOR

        self.broker = telemetry_support.Broker(port=free_port(), directory=self.directory)
        await self.broker.start()
        simulator_port = free_port()
        await self._serve(
            create_simulator(SimulatorConfig(db_url=self.protheus_dsn)), simulator_port
        )
        rest_url = f"http://127.0.0.1:{simulator_port}/rest"
        settings = Settings(
            mes_db_url=self.mes_dsn,
            protheus_db_url=self.protheus_dsn,
            protheus_rest_url=rest_url,
            mqtt_url=self.broker.url,
            mqtt_client_id=f"web-ingestor-{uuid.uuid4().hex[:8]}",
            api_keys=parse_api_keys(KEYS),
            http_host="127.0.0.1",
            audit=NO_AUDIT,
            pusher=dataclasses.replace(production_support.FAST, enabled=True),
            ingest=dataclasses.replace(
                telemetry_support.FAST, spool_dir=str(self.directory / "spool")
            ),
            stops=StopSettings(detect_poll_s=0.1),
            # The analytics jobs (dimension sync, rollups, lake export) serve no page.
            analytics=AnalyticsSettings(enabled=False, lake_dir=str(self.directory / "lake")),
            # Events polled at the production default (0.5 s); keep-alives often, so a stream
            # whose page closed ends soon and does not hold the shutdown.
            web=WebSettings(events_ping_s=1.0),
        )
        app = compose_app(settings)
        port = free_port()
        await self._serve(app, port)
        await asyncio.wait_for(app[INGESTOR].connected.wait(), 20)
        order = await find_order(self.protheus_dsn, "accepting", min_operations=2)
        plant = list(
            dict.fromkeys(
                [*order.machines.values(), *await demo_machines(self.protheus_dsn, PLANT_MACHINES)]
            )
        )
        system = System(
            base_url=f"http://127.0.0.1:{port}",
            rest_url=rest_url,
            broker_port=self.broker.port,
            mes_dsn=self.mes_dsn,
            protheus_dsn=self.protheus_dsn,
            order=order,
            machines=plant,
        )
        await seed(system)
        return system

    async def _down(self) -> None:
        for runner in reversed(self.runners):
            await runner.cleanup()
        if self.broker is not None:
            await self.broker.stop()


async def seed(system: System) -> None:
    """Every plant machine running since an hour ago (its order's counters and a metric every
    minute), so the plant, machine and order pages have something to draw; waits until the
    ingestor stored it."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    start = now - dt.timedelta(hours=1)
    messages: list[tuple[str, Any]] = []
    for n, machine in enumerate(system.machines):
        messages.append(state(machine, "running", start))
        for minute in range(0, 60, 1):
            at = (start + dt.timedelta(minutes=minute)).isoformat()
            messages.append(
                (
                    topic(machine, "telemetry"),
                    {"ts": at, "metrics": {"temperatura": 60 + (minute + n) % 7}},
                )
            )
            messages.append(
                (
                    topic(machine, "counter"),
                    {
                        "ts": at,
                        "good": 3,  # since the previous counter message
                        "scrap": int(minute % 20 == 0),
                        "order": system.order.key,
                    },
                )
            )
    await publish(system.broker_port, messages)
    count = await wait_for(
        system.mes_dsn,
        "SELECT count(*) = $1 FROM machines",
        len(system.machines),
        seconds=30,
    )
    if not count:
        raise RuntimeError("the ingestor did not store the plant's machines in time")
