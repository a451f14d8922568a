"""The dimension sync: Protheus SH1, SB1, SC2, SH6 and stop reasons mirrored into analytics_src."""

from __future__ import annotations

import asyncpg

from services.analytics.jobs import RunResult
from shared.protheus.context import ProtheusContext


class DimensionSync:
    """One run copies every mirrored table (one transaction per table)."""

    def __init__(self, pool: asyncpg.Pool, protheus: ProtheusContext) -> None:
        self.pool = pool
        self.protheus = protheus

    async def run(self) -> RunResult:
        return {}
