"""Protheus's stop (unproductive time) reasons, the codes MATA682 accepts in H6_MOTIVO.

Current releases keep them in CYN (CYN_CDSP code, CYN_DSSP description); older ones in the
generic table SX5 under X5_TABELA '44' (X5_CHAVE, X5_DESCRI). Which one applies is the
dictionary's (whether CYN exists, read once). Nothing else in the project reads CYN or SX5.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache

from shared.db.dialect import Dialect
from shared.protheus.context import ProtheusContext
from shared.protheus.naming import Tables
from shared.protheus.sql import live

log = logging.getLogger(__name__)

# SX5's generic table of stop reasons.
SX5_STOP_REASONS_TABLE = "44"


@dataclass(frozen=True)
class StopReason:
    """One reason: its code (what H6_MOTIVO holds) and its description, both trimmed."""

    code: str
    description: str


@lru_cache(maxsize=8)
def stop_reasons_sql(dialect: Dialect, tables: Tables, *, from_cyn: bool) -> str:
    """Live reasons of one branch, ordered by code: CYN (`:cyn_filial`) when `from_cyn`,
    else SX5 (`:x5_filial`) rows of table `:x5_tabela`. The same text runs on PostgreSQL
    and SQL Server (the parameters are cast to VARCHAR there by the source)."""
    if from_cyn:
        return (
            f"SELECT cyn.cyn_cdsp AS code, cyn.cyn_dssp AS description FROM {tables.cyn} cyn "  # noqa: S608 - validated names only
            f"WHERE cyn.cyn_filial = :cyn_filial AND {live('cyn')} ORDER BY cyn.cyn_cdsp"
        )
    return (
        f"SELECT x5.x5_chave AS code, x5.x5_descri AS description FROM {tables.sx5} x5 "  # noqa: S608 - validated names only
        f"WHERE x5.x5_filial = :x5_filial AND x5.x5_tabela = :x5_tabela AND {live('x5')} "
        "ORDER BY x5.x5_chave"
    )


async def stop_reasons(protheus: ProtheusContext, *, branch: str | None = None) -> list[StopReason]:
    """The stop reasons of `branch` (the configured one when None), ordered by code: live CYN
    rows of the branch's CYN filial, or, where CYN does not exist, live SX5 rows of table
    '44' of the branch's SX5 filial; none where neither table exists. One query (the
    dictionary is read once per process).

    Raises DependencyUnavailable when the Protheus database cannot be read.
    """
    table = await protheus.dictionary.stop_reason_table()
    if table is None:
        log.warning("neither CYN nor SX5 exists in the Protheus database: no stop reasons")
        return []
    from_cyn = table == "CYN"
    sql = stop_reasons_sql(protheus.dialect, protheus.tables, from_cyn=from_cyn)
    if from_cyn:
        params = {"cyn_filial": await protheus.filial("CYN", branch)}
    else:
        params = {
            "x5_filial": await protheus.filial("SX5", branch),
            "x5_tabela": SX5_STOP_REASONS_TABLE,
        }
    rows = await protheus.source.fetch(sql, params)
    return [
        StopReason(code=str(row["code"]).strip(), description=str(row["description"]).strip())
        for row in rows
    ]
