"""Typed application keys for what every service shares (aiohttp's "no singletons" rule)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

import asyncpg
from aiohttp import web
from prometheus_client import CollectorRegistry

from shared.auth import KeyRing
from shared.db.sources import ProtheusSource
from shared.preflight import Endpoint
from shared.protheus.branches import BranchResolver, ProtheusDictionary
from shared.protheus.context import ProtheusContext
from shared.settings import ApiKey, Settings


@dataclass(frozen=True)
class HealthCheck:
    """A dependency probe for /readyz; `required` ones make the service not ready when down."""

    name: str
    probe: Callable[[], Awaitable[object]]
    required: bool
    endpoint: Endpoint | None = None  # the server behind it, checked before a service starts


SETTINGS: Final = web.AppKey("settings", Settings)
KEYRING: Final = web.AppKey("keyring", KeyRing)
METRICS: Final = web.AppKey("metrics", CollectorRegistry)
HEALTH_CHECKS: Final = web.AppKey("health_checks", list[HealthCheck])
MES_POOL: Final = web.AppKey("mes_pool", asyncpg.Pool)
PROTHEUS: Final = web.AppKey("protheus", ProtheusSource)
BRANCHES: Final = web.AppKey("branches", BranchResolver)
DICTIONARY: Final = web.AppKey("protheus_dictionary", ProtheusDictionary)
PROTHEUS_CONTEXT: Final = web.AppKey("protheus_context", ProtheusContext)
OPENAPI_SERVICES: Final = web.AppKey("openapi_services", dict[str, str])

REQUEST_ID: Final = web.RequestKey("request_id", str)
CALLER: Final = web.RequestKey("caller", ApiKey)


def get_settings(app: web.Application) -> Settings:
    return app[SETTINGS]


def get_mes_pool(app: web.Application) -> asyncpg.Pool:
    return app[MES_POOL]


def get_protheus(app: web.Application) -> ProtheusSource:
    return app[PROTHEUS]


def get_branches(app: web.Application) -> BranchResolver:
    return app[BRANCHES]


def get_protheus_context(app: web.Application) -> ProtheusContext:
    return app[PROTHEUS_CONTEXT]
