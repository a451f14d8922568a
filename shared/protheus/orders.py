"""An order's status as the production API gives it (PROTHEUS.md's status table), in SQL:
the production service's order routes and the analytics sync (analytics_src.sc2.status) both
evaluate these expressions on the Protheus server, so the two never disagree."""

from __future__ import annotations

from shared.db.dialect import Dialect
from shared.protheus.keys import op_key_sql
from shared.protheus.naming import Tables
from shared.protheus.sql import live

SITUATIONS = {"U": "suspended", "S": "sacramented"}
# C2_DIASOCI beyond a century means "never idle"; capping it keeps date arithmetic in range.
MAX_IDLE_DAYS = 36500


def _days_before_today(dialect: Dialect, days: str) -> str:
    """`:today` (YYYYMMDD, the plant's date) minus `days` whole days, as YYYYMMDD text."""
    if dialect.is_tsql:
        return f"CONVERT(CHAR(8), DATEADD(day, -({days}), CONVERT(DATE, :today, 112)), 112)"
    return f"to_char(to_date(:today, 'YYYYMMDD') - ({days}), 'YYYYMMDD')"


def _idle_threshold(dialect: Dialect) -> str:
    """The date an order's latest activity must be older than to be idle.

    "Older than C2_DIASOCI days" is a whole number of days: with N = floor(C2_DIASOCI),
    the activity is idle when it happened before today - N.
    """
    days = (
        f"CAST(FLOOR(CASE WHEN c2_diasoci > {MAX_IDLE_DAYS} THEN {MAX_IDLE_DAYS} "
        "ELSE c2_diasoci END) AS INTEGER)"
    )
    return _days_before_today(dialect, days)


def order_status_sql(dialect: Dialect) -> str:
    """PROTHEUS.md's status table over an order row with its `moves` and `last_activity`."""
    return f"""(CASE
        WHEN c2_tpop = 'P' THEN 'planned'
        WHEN c2_datrf <> '' THEN CASE WHEN c2_quje < c2_quant THEN 'partially_closed' ELSE 'closed' END
        WHEN moves = 0 THEN 'open'
        WHEN c2_diasoci > 0 AND last_activity < {_idle_threshold(dialect)} THEN 'idle'
        ELSE 'started' END)"""


def order_activity_sql(dialect: Dialect, tables: Tables, c2: str, alias: str) -> str:
    """`moves` (live SH6 rows + non-reversed SD3 rows of the order) and `last_activity`.

    An appointment's date is H6_DTAPONT, else H6_DATAFIN; a move's is D3_EMISSAO. A
    reversal deletes the SH6 row and marks its SD3 move D3_ESTORNO = 'S': neither counts.
    Blank dates count as moves but never as the latest date.
    """
    key = op_key_sql(c2, dialect.name)
    subquery = f"""SELECT MAX(NULLIF(m.activity_day, '')) AS last_activity, COUNT(*) AS moves FROM (
        SELECT CASE WHEN h6.h6_dtapont <> '' THEN h6.h6_dtapont ELSE h6.h6_datafin END AS activity_day
        FROM {tables.sh6} h6
        WHERE h6.h6_filial = :sh6_filial AND h6.h6_op = {key} AND {live("h6")}
        UNION ALL
        SELECT d3.d3_emissao AS activity_day
        FROM {tables.sd3} d3
        WHERE d3.d3_filial = :sd3_filial AND d3.d3_op = {key} AND d3.d3_estorno <> 'S' AND {live("d3")}
    ) m"""
    return dialect.outer_lateral(subquery, alias)


def situation(c2_status: str) -> str:
    """C2_STATUS: U suspended, S definitively closed (sacramented), N or blank normal."""
    return SITUATIONS.get(c2_status.strip(), "normal")
