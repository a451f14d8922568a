"""The base application every service starts from, its shared resources, and the service runner."""

from __future__ import annotations

import asyncio
import functools
import logging
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol, TypeVar

from aiohttp import web
from prometheus_client import CollectorRegistry

from shared.audit.middleware import AUDIT
from shared.audit.writer import AuditWriter
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
    """Middlewares, settings, keys, metrics and health routes; each service's `setup`
    then lists its resources (cleanup contexts, in start order), checks and routes."""
    app = web.Application(middlewares=list(COMMON_MIDDLEWARES), client_max_size=MAX_BODY_BYTES)
    app[SETTINGS] = settings
    app[KEYRING] = KeyRing(settings.api_keys)
    registry = CollectorRegistry()
    app[METRICS] = registry
    app[HTTP_METRICS] = HttpMetrics(registry)
    app[HEALTH_CHECKS] = []
    app[OPENAPI_SERVICES] = {}
    app.router.add_get("/healthz", healthz, name="healthz")
    app.router.add_get("/readyz", readyz, name="readyz")
    app.router.add_get("/metrics", metrics_handler, name="metrics")
    return app


def create_service_app(
    settings: Settings, setup: Callable[[web.Application], None]
) -> web.Application:
    """One service alone, as `python -m services.<name>` serves it: the base app, then that
    service's `setup` (the devserver calls the same `setup` on its composed app)."""
    app = create_base_app(settings)
    setup(app)
    return app


CleanupContext = Callable[[web.Application], AsyncIterator[None]]


@dataclass(frozen=True)
class Resource:
    """A resource with a /readyz check: its cleanup context and the function that registers
    the check of what it opens. Listing the resource registers both, so a check never goes
    without its resource nor a resource without its check."""

    open: CleanupContext
    check: Callable[[web.Application], None]


def add_resources(app: web.Application, *resources: CleanupContext | Resource) -> None:
    """Append each resource's cleanup context, in the order they start (and stop in reverse),
    and register the checks of those that have one, in the same order.

    A context already there is not added again: the devserver's composed app opens the MES
    pool and the Protheus source once for all the services (and a check keeps the first
    service's registration: shared.health.add_check).
    """
    for resource in resources:
        context = resource.open if isinstance(resource, Resource) else resource
        if context not in app.cleanup_ctx:
            app.cleanup_ctx.append(context)
        if isinstance(resource, Resource):
            resource.check(app)


class Worker(Protocol):
    """A background worker a resource runs: started with the app, stopped with it."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


W = TypeVar("W", bound=Worker)


@asynccontextmanager
async def running(app: web.Application, key: web.AppKey[W], worker: W) -> AsyncIterator[W]:
    """Start a worker, keep it under its app key while the app serves, stop it with the app."""
    await worker.start()
    app[key] = worker
    try:
        yield worker
    finally:
        await worker.stop()


# --- the resources every service may use -------------------------------------------------


async def audit_writer(app: web.Application) -> AsyncIterator[None]:
    """Record authenticated requests (the middleware is in every app; it acts when the writer
    is there). The writer has its own small pool, so the catalog needs MES_DB_URL too; a MES
    database that is down never fails or slows a request: /readyz says so, rows wait in the
    bounded buffer and beyond it are dropped and counted."""
    settings = app[SETTINGS]
    if not settings.audit.enabled:
        yield
        return
    writer = AuditWriter(
        settings.audit, settings.mes_db_url, app[METRICS], ca_file=settings.db_ca_file
    )
    async with running(app, AUDIT, writer):
        yield


async def mes_pool(app: web.Application) -> AsyncIterator[None]:
    """The MES database pool, opened with the app, brought up to date, closed with it."""
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


async def protheus(app: web.Application) -> AsyncIterator[None]:
    """The read-only Protheus source, the per-table branch resolver and the dictionary;
    PROTHEUS_BRANCH is checked against the ERP's layout here when the database answers."""
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


# --- their /readyz checks ----------------------------------------------------------------


def add_audit_check(app: web.Application) -> None:
    """The audit writer's state; never a readiness gate."""

    async def probe() -> None:
        writer = app.get(AUDIT)
        if writer is not None and not writer.healthy:
            raise RuntimeError(f"auditoria degradada: {writer.state()}")

    add_check(app, "audit", probe, required=False)


def add_mes_db_check(app: web.Application) -> None:
    """The MES database answers (required; also checked before a service starts)."""

    async def probe() -> None:
        async with app[MES_POOL].acquire(timeout=2) as conn:
            await conn.fetchval("SELECT 1")

    endpoint = Endpoint("MES_DB_URL", app[SETTINGS].mes_db_url)
    add_check(app, "mes_db", probe, required=True, endpoint=endpoint)


def add_protheus_db_check(app: web.Application, *, required: bool) -> None:
    """The Protheus database answers, and which SQL variant the service writes."""

    async def probe() -> dict[str, str]:
        source = app[PROTHEUS]
        await source.ping()
        return source.dialect.describe()

    endpoint = Endpoint("PROTHEUS_DB_URL", app[SETTINGS].protheus_db_url)
    add_check(app, "protheus_db", probe, required=required, endpoint=endpoint)


# --- the shared resources as the services list them: each with its check -------------

audit_log = Resource(audit_writer, add_audit_check)
mes_database = Resource(mes_pool, add_mes_db_check)


def protheus_database(*, required: bool) -> Resource:
    """The Protheus source; `required`: whether the service is not ready without it."""
    return Resource(protheus, functools.partial(add_protheus_db_check, required=required))


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
    except ConfigError as exc:  # a setting parsed further when the app is built (SHIFT_CALENDAR)
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
