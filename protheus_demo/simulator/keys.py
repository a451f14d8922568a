"""Typed application keys of the simulator and their accessors."""

from __future__ import annotations

from typing import Final

import asyncpg
from aiohttp import web

from protheus_demo.simulator.config import SimulatorConfig
from protheus_demo.simulator.dictionary import Dictionary
from protheus_demo.simulator.injector import FaultInjector
from protheus_demo.simulator.tokens import TokenStore

CONFIG: Final = web.AppKey("simulator_config", SimulatorConfig)
POOL: Final = web.AppKey("simulator_pool", asyncpg.Pool)
DICTIONARY: Final = web.AppKey("simulator_dictionary", Dictionary)
TOKENS: Final = web.AppKey("simulator_tokens", TokenStore)
FAULTS: Final = web.AppKey("simulator_faults", FaultInjector)


def get_config(app: web.Application) -> SimulatorConfig:
    return app[CONFIG]


def get_pool(app: web.Application) -> asyncpg.Pool:
    return app[POOL]


def get_dictionary(app: web.Application) -> Dictionary:
    return app[DICTIONARY]


def get_tokens(app: web.Application) -> TokenStore:
    return app[TOKENS]


def get_faults(app: web.Application) -> FaultInjector:
    return app[FAULTS]
