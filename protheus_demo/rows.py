"""Single-row inserts into demo Protheus tables, for tests and the REST simulator."""

from __future__ import annotations

import datetime
from typing import Any

import asyncpg

from protheus_demo.schema import TABLES
from shared.protheus.naming import table_name


def _value_for(column_name: str, sql_type: str, value: Any) -> Any:
    if isinstance(value, datetime.date) and sql_type == "CHAR(8)":
        # Protheus dates are CHAR(8) YYYYMMDD; accepting date objects saves every caller a strftime.
        return value.strftime("%Y%m%d")
    if sql_type == "DOUBLE PRECISION" and isinstance(value, int | float):
        return float(value)
    if value is None:
        raise ValueError(f"{column_name} cannot be NULL: Protheus stores blanks or 0")
    return value


async def insert_row(
    conn: asyncpg.Connection, alias: str, *, company: str = "01", **values: Any
) -> int:
    """Insert one row; unspecified columns take their Protheus default; returns its R_E_C_N_O_.

    R_E_C_N_O_ is the next free number (max + 1) unless given. A row inserted as deleted
    (D_E_L_E_T_='*') gets R_E_C_D_E_L_ = R_E_C_N_O_ unless given, as Protheus does.
    """
    alias = alias.upper()
    if alias not in TABLES:
        raise ValueError(f"unknown demo alias {alias!r}")
    table = table_name(alias, company)
    types = {column.name: column.sql_type for column in TABLES[alias]}
    given = {name.upper(): value for name, value in values.items()}
    unknown = sorted(set(given) - set(types))
    if unknown:
        raise ValueError(f"{alias} has no column(s) {', '.join(unknown)}")

    recno = given.pop("R_E_C_N_O_", None)
    recdel_follows = given.get("D_E_L_E_T_") == "*" and "R_E_C_D_E_L_" not in given
    names = list(given)
    args = [_value_for(name, types[name], given[name]) for name in names]
    selected = [f"${number}" for number in range(1, len(names) + 1)]
    names.append("R_E_C_N_O_")
    if recno is None:
        selected.append("next.recno")
    else:
        args.append(int(recno))
        selected.append(f"${len(args)}")
    if recdel_follows:
        names.append("R_E_C_D_E_L_")
        selected.append(selected[-1])

    # Only the validated table name and column names from TABLES are formatted in.
    sql = (
        f"WITH next AS (SELECT coalesce(max(r_e_c_n_o_), 0) + 1 AS recno FROM {table}) "  # noqa: S608
        f"INSERT INTO {table} ({', '.join(names)}) SELECT {', '.join(selected)} FROM next "
        "RETURNING r_e_c_n_o_"
    )
    async with conn.transaction():
        # max + 1 races between concurrent writers (the simulator answers requests in
        # parallel); a per-table advisory lock held to commit serialises the numbering.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", table)
        result: int = await conn.fetchval(sql, *args)
    return result
