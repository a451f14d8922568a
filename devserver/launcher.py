"""`make run`: prepare databases and broker, then serve every service's routes on one port."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import secrets
import signal
import sys
import time
from collections.abc import AsyncIterator

import asyncpg
from aiohttp import web

from devserver.infra import (
    LOCAL_MQTT,
    LOCAL_PG,
    RUN_DIR,
    broker_port,
    embedded_postgres,
    mqtt_answers,
    pg_answers,
    run_mosquitto,
    start_embedded_broker,
    with_database,
)
from shared.app import create_base_app, load_settings_or_exit
from shared.logging import configure_logging
from shared.migrations import migrate
from shared.preflight import Endpoint, StartupError, require
from shared.redact import mask_dsn, redact
from shared.settings import Settings

log = logging.getLogger("devserver")

DEFAULT_PORT = 8080
CONNECT_TIMEOUT_S = 10
_DB_NAME = re.compile(r"^[A-Za-z0-9_]+$")
MAKE_RUN_HINT = (
    "inicie esse servidor, corrija {variable} ou remova-a para que `make run` use o servidor "
    "local ou um embutido"
)


@contextlib.asynccontextmanager
async def database_step(variable: str, dsn: str) -> AsyncIterator[None]:
    """A database the server refuses (password, permission, missing role) ends in one line."""
    try:
        yield
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        reason = redact(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        raise StartupError(
            f"{variable}: o banco em {mask_dsn(dsn)} recusou a preparação ({reason}); "
            f"corrija {variable} ou as permissões desse usuário"
        ) from None


def compose_app(settings: Settings) -> web.Application:
    """One app with the five services' resources, checks and routes, each set up by the
    same `setup` its own `create_app` calls (a resource they share starts once): a dev
    launcher, not a service."""
    from services.analytics import app as analytics
    from services.catalog import app as catalog
    from services.production import app as production
    from services.telemetry import app as telemetry
    from services.web import app as web_app

    app = create_base_app(settings)
    for service in (catalog, production, telemetry, analytics, web_app):
        service.setup(app)
    return app


async def ensure_database(dsn: str) -> bool:
    """Create the PostgreSQL database a URL names when it does not exist yet; True if created."""
    name = dsn.split("?", 1)[0].rsplit("/", 1)[-1]
    if not _DB_NAME.match(name):
        raise SystemExit(f"nome de banco inválido em {dsn!r}")
    admin = await asyncpg.connect(with_database(dsn, "postgres"), timeout=CONNECT_TIMEOUT_S)
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await admin.execute(f'CREATE DATABASE "{name}"')
            log.info("created database %s", name)
        return not exists
    finally:
        await admin.close()


async def seed_protheus(dsn: str, company: str, scale: str) -> None:
    """Load the demo Protheus data into a database that holds no Protheus tables; never otherwise."""
    from protheus_demo.load import has_protheus_tables, load_demo

    conn = await asyncpg.connect(dsn)
    try:
        if await has_protheus_tables(conn, company):
            log.info("protheus database already holds Protheus tables; leaving it as it is")
            return
        print(f"Carregando a base demo do Protheus (escala {scale}) ...", flush=True)
        started = time.perf_counter()
        counts = await load_demo(conn, company=company, scale=scale)
        print(
            f"Base demo carregada em {time.perf_counter() - started:.1f} s "
            f"({counts.get('SB1', 0)} produtos, {counts.get('SG1', 0)} linhas de estrutura).",
            flush=True,
        )
    finally:
        await conn.close()


def dev_api_key() -> str:
    """A dev key kept in .run/ so it stays the same across runs."""
    path = RUN_DIR / "dev-api-key"
    if path.exists():
        return path.read_text().strip()
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    key = f"dev-{secrets.token_urlsafe(24)}"
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key


async def is_demo(dsn: str) -> bool:
    """True when the Protheus database is the demo one (the simulator writes only there)."""
    if dsn.lower().startswith("odbc://"):
        return False
    from protheus_demo.load import is_demo_database

    conn = await asyncpg.connect(dsn)
    try:
        return await is_demo_database(conn)
    finally:
        await conn.close()


async def serve_simulator(
    stack: contextlib.AsyncExitStack, env: dict[str, str], settings: Settings
) -> None:
    """The Protheus REST simulator on :8090, writing appointments into the demo database."""
    from protheus_demo.simulator.app import create_simulator
    from protheus_demo.simulator.config import DEFAULT_PORT, SimulatorConfig

    config = SimulatorConfig.from_env(
        {**env, "PROTHEUS_DB_URL": settings.protheus_db_url, "HTTP_PORT": str(DEFAULT_PORT)}
    )
    runner = web.AppRunner(create_simulator(config), access_log=None)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    await web.TCPSite(runner, settings.http_host, config.http_port).start()
    print(f"Simulador do Protheus (REST) em http://localhost:{config.http_port}/rest", flush=True)


async def serve(stack: contextlib.AsyncExitStack) -> None:
    env = dict(os.environ)
    if "MES_DB_URL" not in env or "PROTHEUS_DB_URL" not in env:
        if await pg_answers(LOCAL_PG):
            server = LOCAL_PG
        else:
            print(
                "Nenhum PostgreSQL em 127.0.0.1:5432; iniciando um embutido em .run/ ...",
                flush=True,
            )
            server = stack.enter_context(embedded_postgres())
        env.setdefault("PROTHEUS_DB_URL", with_database(server, "protheus"))
        env.setdefault("MES_DB_URL", with_database(server, "mes"))
    devices_url = env.get("MQTT_URL", "")
    if "MQTT_URL" not in env:
        # deploy/ is not in the image (deploy/migrate.py imports this module there): only here.
        from deploy.stack_config import mosquitto_binary

        if (binary := mosquitto_binary()) is not None:
            # Our own Mosquitto with deploy/mosquitto's settings (no queue limit for the
            # ingestor), as `make stack` runs it: never a broker whose limits we do not know.
            # The port of the last run (devices keep their URL), else 1883 when free (a
            # system broker may hold it), else any free one.
            port = broker_port(RUN_DIR / "mosquitto", int(env.get("RUN_MQTT_PORT", "1883")))
            bind = env.get("RUN_MQTT_BIND", "127.0.0.1")
            stack.enter_context(run_mosquitto(binary, port, bind))
            env["MQTT_URL"] = f"mqtt://127.0.0.1:{port}"
            # No note about queue limits from the ingestor for a broker we configured.
            env["MQTT_BROKER_MANAGED"] = "true"
            host = "localhost" if bind in ("127.0.0.1", "localhost") else "<este-host>"
            devices_url = f"mqtt://{host}:{port}"
            print(
                f"Mosquitto (configuração de deploy/mosquitto) em {devices_url}; "
                f"log em {RUN_DIR / 'mosquitto' / 'mosquitto.log'}",
                flush=True,
            )
        else:
            env["MQTT_URL"] = devices_url = LOCAL_MQTT
            if not await mqtt_answers(LOCAL_MQTT):
                print("Nenhum broker MQTT em localhost:1883; iniciando um embutido ...", flush=True)
                broker = await start_embedded_broker()
                stack.push_async_callback(broker.shutdown)  # type: ignore[attr-defined]
    key = None
    if not env.get("MES_API_KEYS"):
        key = dev_api_key()
        env["MES_API_KEYS"] = f"dev:{key}:admin"
    env.setdefault("HTTP_PORT", str(DEFAULT_PORT))
    settings = load_settings_or_exit(env)
    configure_logging(settings.log_level, service="devserver")

    # Servers named by the environment are checked first: one line, not a driver traceback.
    named = [
        Endpoint(v, env[v])
        for v in ("MES_DB_URL", "PROTHEUS_DB_URL", "MQTT_URL")
        if v in os.environ
    ]
    await require(named, hint=MAKE_RUN_HINT)
    async with database_step("MES_DB_URL", settings.mes_db_url):
        await ensure_database(settings.mes_db_url)
        conn = await asyncpg.connect(settings.mes_db_url, timeout=CONNECT_TIMEOUT_S)
        try:
            await migrate(conn)
        finally:
            await conn.close()
    if not settings.protheus_db_url.lower().startswith("odbc://"):
        async with database_step("PROTHEUS_DB_URL", settings.protheus_db_url):
            await ensure_database(settings.protheus_db_url)
            await seed_protheus(
                settings.protheus_db_url,
                settings.protheus_company,
                env.get("DEMO_SCALE", "default"),
            )

    if "PROTHEUS_REST_URL" not in os.environ and await is_demo(settings.protheus_db_url):
        await serve_simulator(stack, env, settings)

    if settings.demo_telemetry:
        # Before the services: the anomaly detector's first run finds the history.
        from devserver.demo import start_demo_telemetry

        await start_demo_telemetry(stack, settings, env.get("DEMO_SCALE", "default"))
    app = compose_app(settings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    port = settings.http_port or DEFAULT_PORT
    await web.TCPSite(runner, settings.http_host, port).start()

    base = f"http://localhost:{port}"
    print(f"\nMES integration em {base}", flush=True)
    print(f"  aplicativo web: {base}/ (entre com uma chave de API)", flush=True)
    if devices_url:
        shown = devices_url.split("@")[-1].removeprefix("mqtt://").removeprefix("mqtts://")
        print(
            f"  dispositivos publicam em mqtt://{shown} (tópicos mes/v1/<site>/<area>/<linha>/<máquina>/<canal>)"
        )
    if key:
        print(f"  chave de API de desenvolvimento (admin): {key}")
        print(f'  experimente: curl -H "Authorization: Bearer {key}" {base}/readyz')
    print("  Ctrl-C encerra.\n", flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    print("Encerrando ...", flush=True)


async def amain() -> None:
    async with contextlib.AsyncExitStack() as stack:
        await serve(stack)


def main() -> None:
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"), service="devserver")
    try:
        asyncio.run(amain())
    except StartupError as exc:
        print(f"make run: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
