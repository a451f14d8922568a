"""The plant page of a 200-machine plant in Debian's Chromium: time from navigation to the page
drawn (`main[data-page=plant][data-ready=true]`) and the bytes it transferred (compressed, as
on the wire), cold (empty cache) and warm (the same browser again), served as `make run`
serves it (python -m devserver) and through the project's nginx when it can start one.

- Data: 200 machines (SH1) in 10 lines of 20, each line making one firm order of its own product
  (SC2, SG2 with one operation per machine); in the MES database 8 hours of states (a change
  every 10-40 min), counters every 5 min naming the line's order, and one metric every 5 min,
  stored through the ingestor's TelemetryStore; open anomaly events (0026) on every seventh
  machine and a failure-risk score (0028, one active model) for every machine, so the page's
  anomaly and risk requests carry data as on a plant with the analytics running.
- Each run is a fresh page; cold runs use a new browser context (no cache), warm runs reuse one
  context whose cache the first load filled. Time is Python's clock from `goto` to the ready
  selector and two animation frames after it (the frame that paints the tiles); bytes are the Performance API's transferSize (headers and compressed bodies) and
  encodedBodySize of the navigation and every resource fetched.
- Targets (issue 17): < 1 s to the drawn page, < 300 KB transferred.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import random
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg

from bench.common import fresh_database, migrated_database, save, server
from deploy.supervisor import free_port, port_open
from protheus_demo.load import create_schema
from protheus_demo.rows import insert_row
from services.telemetry.ingest.parse import Parsed
from services.telemetry.ingest.store import TelemetryStore
from tests.support.web import chromium_missing, launch

MACHINES = 200
PER_LINE = 20
HOURS = 8
RUNS = int(os.environ.get("BENCH_WEB_RUNS", "7"))
KEY = "bench-web-key-0123456789abcdef"
TARGET_S, TARGET_KB = 1.0, 300.0
READY = 'main[data-page="plant"][data-ready="true"]'
# Resolves after the next frame was produced: the drawn page painted.
PAINTED = "() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))"
ANOMALY_EVERY = 7
# Every entry the page fetched, the document included; transferSize is 0 for what the cache
# answered (immutable assets), headers plus the compressed body otherwise.
BYTES = """() => {
  const entries = [...performance.getEntriesByType('navigation'),
                   ...performance.getEntriesByType('resource')];
  return {
    transfer: entries.reduce((s, e) => s + (e.transferSize || 0), 0),
    encoded: entries.reduce((s, e) => s + (e.encodedBodySize || 0), 0),
    decoded: entries.reduce((s, e) => s + (e.decodedBodySize || 0), 0),
    requests: entries.length,
  };
}"""


def machine_codes() -> list[str]:
    return [f"W{n:03d}" for n in range(MACHINES)]


def line_of(n: int) -> int:
    return n // PER_LINE


def order_of(line: int) -> tuple[str, str]:
    """(C2_NUM, the order key) of a line's order."""
    num = f"{800001 + line}"
    return num, f"{num}01001"


async def protheus_rows(dsn: str) -> None:
    """SH1 of the 200 machines; per line a product, a firm order and its routing (one
    operation per machine of the line, 36 s per unit)."""
    conn = await asyncpg.connect(dsn)
    try:
        await create_schema(conn, company="01")
        machines = machine_codes()
        for line in range(MACHINES // PER_LINE):
            product = f"PWEB{line:02d}"
            num, _ = order_of(line)
            await insert_row(
                conn, "SB1", B1_FILIAL="", B1_COD=product, B1_DESC=f"PRODUTO LINHA {line + 1}"
            )
            await insert_row(conn, "SC2", C2_FILIAL="01", C2_NUM=num, C2_ITEM="01", C2_SEQUEN="001",
                             C2_PRODUTO=product, C2_ROTEIRO="01", C2_TPOP="F", C2_QUANT=1e5)  # fmt: skip
            for k, machine in enumerate(machines[line * PER_LINE : (line + 1) * PER_LINE]):
                await insert_row(conn, "SH1", H1_FILIAL="", H1_CODIGO=machine,
                                 H1_DESCRI=f"PRENSA {machine} LINHA {line + 1}")  # fmt: skip
                await insert_row(conn, "SG2", G2_FILIAL="01", G2_PRODUTO=product, G2_CODIGO="01",
                                 G2_OPERAC=f"{k + 1:02d}", G2_RECURSO=machine, G2_TEMPAD=0.01,
                                 G2_LOTEPAD=1)  # fmt: skip
    finally:
        await conn.close()


def telemetry(now: dt.datetime) -> Iterator[Parsed]:
    """Each machine's last HOURS: states, counters and one metric (seeded, reproducible)."""
    rng = random.Random(17)
    start = now - dt.timedelta(hours=HOURS)
    step = dt.timedelta(minutes=5)
    for n, machine in enumerate(machine_codes()):
        line = line_of(n)
        _, order = order_of(line)
        states = []
        at = start
        while at < now:
            name = rng.choices(
                ["running", "idle", "setup", "stopped", "fault"], [70, 10, 5, 10, 5]
            )[0]
            states.append((machine, at, name, "P1" if name in ("stopped", "fault") else None))
            at += dt.timedelta(minutes=rng.randint(10, 40))
        if n % 17 == 0:
            states.append((machine, now - dt.timedelta(minutes=3), "offline", None))
        counters, samples = [], []
        at = start
        while at < now:  # counts since the previous counter message
            counters.append((machine, at, rng.randint(25, 45), int(rng.random() < 0.3), order))
            samples.append((machine, "temperatura", at, 55.0 + rng.random() * 10))
            at += step
        yield Parsed(
            machine=(machine, "bench", "estamparia", f"linha{line + 1:02d}", now),
            samples=samples,
            states=states,
            counters=counters,
            sample_days={
                (start + k * step).astimezone(dt.UTC).date() for k in range(HOURS * 12 + 1)
            },
        )


async def analytics_rows(conn: asyncpg.Connection, now: dt.datetime) -> tuple[int, int]:
    """Open anomaly events (anomaly_events, 0026) and each machine's latest risk score from one
    active model (risk_models, machine_risk, 0028): (anomalies, scores)."""
    rng = random.Random(16)
    machines = machine_codes()
    anomalies = [
        (uuid.UUID(int=rng.getrandbits(128)), machine,
         rng.choice(["spike", "stuck", "out_of_range", "drift"]),
         now - dt.timedelta(minutes=rng.randint(5, 120)), 3.0 + rng.random() * 5)
        for n, machine in enumerate(machines) if n % ANOMALY_EVERY == 0
    ]  # fmt: skip
    await conn.executemany(
        "INSERT INTO anomaly_events (id, machine, kind, metrics, started_at, score)"
        " VALUES ($1, $2, $3, ARRAY['temperatura'], $4, $5)",
        anomalies,
    )
    await conn.execute(
        "INSERT INTO risk_models (version, algorithm, card, blob, active)"
        " VALUES ('bench', 'gradient_boosting', '{}', '\\x00', true)"
    )
    hour = now.replace(minute=0, second=0, microsecond=0)
    scores = [(machine, rng.betavariate(1.5, 8.0)) for machine in machines]
    await conn.executemany(
        "INSERT INTO machine_risk (machine, hour, risk, top_features, model_version, alert_open)"
        ' VALUES ($1, $2, $3, \'[{"feature": "temperatura_std_1h", "value": 1.0, "contribution": 0.1}]\','
        " 'bench', $4)",
        [(machine, hour, risk, risk >= 0.5) for machine, risk in scores],
    )
    return len(anomalies), len(scores)


async def prepare() -> tuple[str, str]:
    protheus = await fresh_database("bench_web_protheus")
    await protheus_rows(protheus)
    mes = await migrated_database("bench_web_mes")
    conn = await asyncpg.connect(mes)
    try:
        now = dt.datetime.now(dt.UTC)
        await TelemetryStore().write(conn, list(telemetry(now)))
        anomalies, scores = await analytics_rows(conn, now)
        count = await conn.fetchval("SELECT count(*) FROM machines")
    finally:
        await conn.close()
    print(
        f"  plant: {count} machines, {HOURS} h of states, counters and a metric each; "
        f"{anomalies} open anomalies, {scores} risk scores",
        flush=True,
    )
    return mes, protheus


@contextlib.asynccontextmanager
async def make_run(mes: str, protheus: str, work: Path) -> AsyncIterator[str]:
    """python -m devserver (`make run`) on the bench's databases, a broker of its own and a
    spare port."""
    from tests.support.telemetry import Broker

    broker = Broker(port=free_port(), directory=work)
    await broker.start()
    port = free_port()
    env = {
        "MES_DB_URL": mes,
        "PROTHEUS_DB_URL": protheus,
        "MQTT_URL": broker.url,
        "MQTT_CLIENT_ID": "bench-web-ingestor",
        "MES_API_KEYS": f"bench:{KEY}:admin",
        "HTTP_HOST": "127.0.0.1",
        "HTTP_PORT": str(port),
        "PROTHEUS_REST_URL": "http://127.0.0.1:9/rest",  # nothing is sent to Protheus
        "PUSHER_ENABLED": "false",
        "ANALYTICS_ENABLED": "false",
        "AUDIT_ENABLED": "false",
        "INGEST_SPOOL_DIR": str(work / "spool"),
        "LAKE_DIR": str(work / "lake"),
        "LOG_LEVEL": "WARNING",
    }
    try:
        # An event stream whose page closed holds the shutdown until its next keep-alive.
        async with server(["-m", "devserver"], env, port, start_s=30, stop_s=30) as base:
            yield base
    finally:
        await broker.stop()


@contextlib.contextmanager
def nginx_in_front(port: int) -> Iterator[str | None]:
    """The project's nginx (deploy/nginx templates) with every upstream on the make-run
    server, as tests/deploy starts it; None when it cannot serve the web app."""
    from deploy.nginx.render import DEFAULTS, local_values, nginx_command, render

    if "WEB_UPSTREAM" not in DEFAULTS:
        print("  nginx: its configuration has no web upstream yet; skipped", flush=True)
        yield None
        return
    prefix = Path(tempfile.mkdtemp(prefix="bench-web-nginx-"))
    prefix.chmod(0o755)  # nginx's workers (www-data) traverse it
    listen = free_port()
    upstreams = {name: f"127.0.0.1:{port}" for name in DEFAULTS if name.endswith("_UPSTREAM")}
    values = local_values(prefix, NGINX_LISTEN=str(listen), NGINX_RATE_LIMIT="1000r/s",
                          NGINX_RATE_BURST="1000", **upstreams)  # fmt: skip
    conf = render(prefix / "conf", values)
    process = subprocess.Popen(
        nginx_command(prefix, conf), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(100):
            if port_open("127.0.0.1", listen) or process.poll() is not None:
                break
            time.sleep(0.05)
        if process.poll() is not None:
            print(f"  nginx: did not start (see {prefix / 'error.log'}); skipped", flush=True)
            yield None
            return
        yield f"http://127.0.0.1:{listen}"
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(10)


async def load(context: Any, base: str) -> dict[str, float]:
    """One navigation to the plant page: seconds to drawn, and what it transferred."""
    page = await context.new_page()
    try:
        started = time.perf_counter()
        await page.goto(f"{base}/#/planta")
        await page.wait_for_selector(READY, state="attached", timeout=60_000)
        await page.evaluate(PAINTED)
        elapsed = time.perf_counter() - started
        tiles = await page.locator("a.machine").count()
        if tiles != MACHINES:
            raise RuntimeError(f"the plant page drew {tiles} machines, not {MACHINES}")
        risks = await page.locator('a.machine [data-risk]:not([data-risk=""])').count()
        flagged = await page.locator('a.machine [data-anomalies]:not([data-anomalies="0"])').count()
        if risks != MACHINES or flagged != len(range(0, MACHINES, ANOMALY_EVERY)):
            raise RuntimeError(f"the plant page drew {risks} risks and {flagged} anomaly counts")
        figures = await page.evaluate(BYTES)
        return {"seconds": elapsed, **figures}
    finally:
        await page.close()


async def measure(browser: Any, base: str) -> dict[str, Any]:
    """Median of RUNS cold loads (each a new context) and RUNS warm ones (one context)."""
    session = f"sessionStorage.setItem('mes.apiKey', {KEY!r})"

    async def context() -> Any:
        made = await browser.new_context(viewport={"width": 1280, "height": 800})
        await made.add_init_script(session)
        return made

    cold = []
    for _ in range(RUNS):
        fresh = await context()
        try:
            cold.append(await load(fresh, base))
        finally:
            await fresh.close()
    warm_context = await context()
    try:
        await load(warm_context, base)  # fills the cache
        warm = [await load(warm_context, base) for _ in range(RUNS)]
    finally:
        await warm_context.close()

    def median(runs: list[dict[str, float]], key: str) -> float:
        return statistics.median(run[key] for run in runs)

    return {
        kind: {
            "ms": round(median(runs, "seconds") * 1000, 1),
            "max_ms": round(max(run["seconds"] for run in runs) * 1000, 1),
            "transfer_kb": round(median(runs, "transfer") / 1024, 1),
            "encoded_kb": round(median(runs, "encoded") / 1024, 1),
            "decoded_kb": round(median(runs, "decoded") / 1024, 1),
            "requests": median(runs, "requests"),
        }
        for kind, runs in (("cold", cold), ("warm", warm))
    }


def report(via: str, figures: dict[str, Any]) -> None:
    for kind in ("cold", "warm"):
        f = figures[kind]
        verdict_time = "ok" if f["ms"] < TARGET_S * 1000 else "OVER"
        verdict_bytes = "ok" if f["transfer_kb"] < TARGET_KB else "OVER"
        print(
            f"  {via:9} {kind}: {f['ms']:7.1f} ms to drawn (max {f['max_ms']:.0f}; target "
            f"< {TARGET_S * 1000:.0f}: {verdict_time}), {f['transfer_kb']:6.1f} KB transferred "
            f"({f['encoded_kb']:.1f} KB bodies compressed, {f['decoded_kb']:.1f} KB decoded, "
            f"{f['requests']:.0f} requests; target < {TARGET_KB:.0f} KB: {verdict_bytes})",
            flush=True,
        )


def chromium_present() -> None:
    problem = chromium_missing()
    if problem:
        raise SystemExit(problem)


async def main() -> None:
    from playwright.async_api import async_playwright

    chromium_present()
    print(
        f"web: the plant page of {MACHINES} machines in Chromium, median of {RUNS} runs", flush=True
    )
    mes, protheus = await prepare()
    results: dict[str, Any] = {"machines": MACHINES, "runs": RUNS}
    work = Path(tempfile.mkdtemp(prefix="bench-web-"))
    async with make_run(mes, protheus, work) as base, async_playwright() as playwright:
        browser = await launch(playwright)
        try:
            results["make_run"] = await measure(browser, base)
            report("make run", results["make_run"])
            port = int(base.rsplit(":", 1)[1])
            with nginx_in_front(port) as proxied:
                if proxied is not None:
                    results["nginx"] = await measure(browser, proxied)
                    report("nginx", results["nginx"])
        finally:
            await browser.close()
    save("web", results)


if __name__ == "__main__":
    asyncio.run(main())
