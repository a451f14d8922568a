"""The base application every service starts from, its shared resources, and the service runner."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator, Callable

from aiohttp import web
from prometheus_client import CollectorRegistry

from shared.audit.handlers import use_audit
from shared.audit.settings import AuditSettings
from shared.auth import KeyRing
from shared.db.pools import check_pool, create_pg_pool
from shared.db.sources import open_protheus_source
from shared.health import add_check, healthz, readyz
from shared.keys import (
    BRANCHES,
    DICTIONARY,
    HEALTH_CHECKS,
    KEYRING,
    MES_POOL,
    METRICS,
    OPENAPI_SERVICES,
    PROTHEUS,
    PROTHEUS_CONTEXT,
    RESOURCES,
    SETTINGS,
)
from shared.logging import configure_logging
from shared.metrics import HTTP_METRICS, HttpMetrics, metrics_handler
from shared.middleware import COMMON_MIDDLEWARES
from shared.migrations import migrate
from shared.preflight import Endpoint, StartupError, require
from shared.protheus.branches import BranchError, BranchResolver, ProtheusDictionary
from shared.protheus.context import ProtheusContext
from shared.redact import mask_dsn
from shared.settings import ConfigError, Settings

log = logging.getLogger(__name__)

# The tables the services read: PROTHEUS_BRANCH must fit each one's layout and FILIAL.
READ_ALIASES = (
    "SB1", "SG1", "SG2", "SH1", "SB2", "SA1", "SA2", "SA5",
    "SF1", "SD1", "SF2", "SD2", "SC2", "SH6", "SD3",
)  # fmt: skip

MAX_BODY_BYTES = 1024 * 1024


def create_base_app(settings: Settings) -> web.Application:
    """Middlewares, settings, keys, metrics and health routes; services add the rest."""
    app = web.Application(middlewares=list(COMMON_MIDDLEWARES), client_max_size=MAX_BODY_BYTES)
    app[SETTINGS] = settings
    app[KEYRING] = KeyRing(settings.api_keys)
    registry = CollectorRegistry()
    app[METRICS] = registry
    app[HTTP_METRICS] = HttpMetrics(registry)
    app[HEALTH_CHECKS] = []
    app[RESOURCES] = set()
    app[OPENAPI_SERVICES] = {}
    app.router.add_get("/healthz", healthz, name="healthz")
    app.router.add_get("/readyz", readyz, name="readyz")
    app.router.add_get("/metrics", metrics_handler, name="metrics")
    use_audit(app, AuditSettings.from_env())
    return app


def _register_once(app: web.Application, name: str) -> bool:
    if name in app[RESOURCES]:
        return False
    app[RESOURCES].add(name)
    return True


def use_mes_pool(app: web.Application) -> None:
    """The MES database pool, opened with the app and closed with it (needed for readiness)."""
    if not _register_once(app, "mes_pool"):
        return

    async def mes_pool(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        pool = await create_pg_pool(
            settings.mes_db_url,
            max_size=settings.mes_db_pool_max,
            ca_file=settings.db_ca_file,
            application_name="mes-services",
        )
        app[MES_POOL] = pool
        if await check_pool(pool, settings.mes_db_url, "mes"):
            # Each service brings its schema up to date (an advisory lock makes concurrent
            # starts apply each migration once); a broken migration stops the start.
            async with pool.acquire() as conn:
                applied = await migrate(conn)
            if applied:
                log.info("applied MES migrations %s", applied)
        try:
            yield
        finally:
            await pool.close()

    async def probe() -> None:
        async with app[MES_POOL].acquire(timeout=2) as conn:
            await conn.fetchval("SELECT 1")

    app.cleanup_ctx.append(mes_pool)
    endpoint = Endpoint("MES_DB_URL", app[SETTINGS].mes_db_url)
    add_check(app, "mes_db", probe, required=True, endpoint=endpoint)


def use_protheus(app: web.Application, *, required: bool = True) -> None:
    """The read-only Protheus source and the per-table branch resolver."""
    if not _register_once(app, "protheus"):
        return

    async def protheus(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        source = await open_protheus_source(
            settings.protheus_db_url,
            company=settings.protheus_company,
            pool_max=settings.protheus_db_pool_max,
            statement_timeout_ms=settings.protheus_db_statement_timeout_ms,
            ca_file=settings.db_ca_file,
        )
        app[PROTHEUS] = source
        branches = BranchResolver(source, shared_tables=sorted(settings.protheus_shared_tables))
        app[BRANCHES] = branches
        # Read when a service first needs it (production reads it at start).
        app[DICTIONARY] = dictionary = ProtheusDictionary(source)
        app[PROTHEUS_CONTEXT] = ProtheusContext(
            source=source,
            company=settings.protheus_company,
            branches=branches,
            default_branch=settings.protheus_branch,
            dictionary=dictionary,
        )
        try:
            await source.ping()
            log.info("protheus database ready at %s", mask_dsn(settings.protheus_db_url))
        except Exception as exc:
            log.warning(
                "protheus database unreachable at %s: %s", mask_dsn(settings.protheus_db_url), exc
            )
        else:
            await check_default_branch(branches, settings.protheus_branch)
        try:
            yield
        finally:
            await source.close()

    async def probe() -> dict[str, str]:
        source = app[PROTHEUS]
        await source.ping()
        return source.dialect.describe()  # which SQL variant the service writes

    app.cleanup_ctx.append(protheus)
    endpoint = Endpoint("PROTHEUS_DB_URL", app[SETTINGS].protheus_db_url)
    add_check(app, "protheus_db", probe, required=required, endpoint=endpoint)


async def check_default_branch(branches: BranchResolver, branch: str) -> None:
    """Refuse to start when PROTHEUS_BRANCH cannot be a branch of the company: longer than
    a FILIAL column, or not the length of the SX2 layout (company + unit + branch)."""
    try:
        await branches.check(branch, READ_ALIASES)
    except BranchError as exc:
        await branches.source.close()
        raise ConfigError("PROTHEUS_BRANCH", exc.message) from None
    except Exception as exc:  # the ERP database may go away between ping and check
        log.warning("could not check PROTHEUS_BRANCH against the dictionary: %s", exc)


def load_settings_or_exit(environ: dict[str, str] | None = None) -> Settings:
    """Settings from the environment; a bad variable stops the process with its name."""
    try:
        return Settings.from_env(environ)
    except ConfigError as exc:
        print(f"configuração inválida: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def run_service(
    name: str,
    create_app: Callable[[Settings], web.Application],
    default_port: int,
) -> None:
    """`python -m services.<name>`: read settings, build the app, serve until SIGTERM/Ctrl-C."""
    settings = load_settings_or_exit()
    configure_logging(settings.log_level, service=name)
    try:
        app = create_app(settings)
    except ConfigError as exc:  # a setting a service parses itself (e.g. SHIFT_CALENDAR)
        print(f"configuração inválida: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    required = [c.endpoint for c in app[HEALTH_CHECKS] if c.required and c.endpoint]
    try:
        asyncio.run(require(required))
    except StartupError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    port = settings.http_port or default_port
    log.info("starting %s on %s:%s", name, settings.http_host, port)
    try:
        web.run_app(app, host=settings.http_host, port=port, access_log=None, print=None)
    except ConfigError as exc:  # a setting checked against the ERP at start (PROTHEUS_BRANCH)
        print(f"configuração inválida: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
