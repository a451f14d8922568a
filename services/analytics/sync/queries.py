"""SQL of the dimension sync: what it reads from Protheus (per dialect) and how it writes the
mirrors in the MES database (analytics_src), set-based.

Protheus side, per mirrored table, three reads of the synced branch's live rows (its FILIAL
from the branch resolver, `D_E_L_E_T_ = ' '`), all ordered by R_E_C_N_O_:
- the key set: R_E_C_N_O_ and a hash of the mirrored columns computed by the server, a page
  of `:limit` rows after `:after` at a time (bounded memory and statement time);
- the rows themselves for a list of R_E_C_N_O_ (`IN`), or for a dense range of them
  (`BETWEEN`), with the same hash.
The hash is MD5 over the columns joined by '|' (PostgreSQL's md5/concat_ws, SQL Server's
HASHBYTES/CONCAT, numbers converted at full precision), stored beside the mirrored row: a row
Protheus updated in place has a new hash, a deleted one (`D_E_L_E_T_ = '*'`, or physically
gone) is missing from the key set.

MES side: the key set is copied into a temporary table; mirror rows of the branch missing from
it are deleted; rows new or with another hash are fetched, copied into a staging table, and
upserted, trimmed and typed by `INSERT ... SELECT ... ON CONFLICT`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from shared.db.dialect import Dialect
from shared.db.sources import Row
from shared.protheus.keys import order_key_sql
from shared.protheus.naming import Tables
from shared.protheus.orders import order_activity_sql, order_status_sql, situation
from shared.protheus.sql import MARKER_PREFIX, live
from shared.protheus.stop_reasons import SX5_STOP_REASONS_TABLE


@dataclass(frozen=True)
class Column:
    """A value read from Protheus into the staging table: its name there and its SQL over the
    source row `y` (a number is hashed at full precision)."""

    name: str
    sql: str
    number: bool = False


@dataclass(frozen=True)
class Mirror:
    """One Protheus table (or one variant of it) and the mirror table it is copied into.

    `convert` is the SELECT list over the staging row `s` giving `targets` in order (`$2` is
    the plant's zone); `derived` adds staging columns computed in Python from the read row
    (the production service's own functions, never a second rule); `where` filters the
    source further; `activity`: the order status needs each order's appointments and moves.
    """

    dataset: str
    alias: str
    table: str
    targets: tuple[str, ...]
    convert: str
    read: Callable[[Dialect], tuple[Column, ...]]
    derived: tuple[tuple[str, Callable[[Row], str | None]], ...] = ()
    where: str = ""
    activity: bool = False
    source: str | None = None  # stop reasons: 'CYN' or 'SX5' (the mirror's `source`)

    @property
    def zoned(self) -> bool:
        """Whether `convert` needs the plant's zone (`$2`)."""
        return "$2" in self.convert

    def staging_columns(self, dialect: Dialect) -> tuple[str, ...]:
        return (*(c.name for c in self.read(dialect)), *(name for name, _ in self.derived))


def _text(column: str) -> str:
    return f"NULLIF(btrim(s.{column}), '')"


def _code(column: str) -> str:
    return f"btrim(s.{column})"


def _day(column: str) -> str:
    return f"analytics_src.protheus_day(s.{column})"


def _number(column: str) -> str:
    return f"COALESCE(s.{column}::numeric, 0)"


def _instant(day: str, hour: str) -> str:
    return f"analytics_src.protheus_instant(s.{day}, s.{hour}, $2)"


def _columns(*names: str, numbers: tuple[str, ...] = ()) -> Callable[[Dialect], tuple[Column, ...]]:
    """Plain source columns, named as Protheus names them."""
    columns = tuple(Column(name, f"y.{name}", name in numbers) for name in names)
    return lambda dialect: columns


# The marker ("MES:" + UUID) the MES writes first in H6_OBSERVA: which report or stop an
# appointment is (shared/protheus/sql.py).
_UUID = "^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$"
_DOCUMENT = (
    f"(CASE WHEN upper(left(btrim(s.h6_observa), {len(MARKER_PREFIX)})) = '{MARKER_PREFIX}' "
    f"AND substr(btrim(s.h6_observa), {len(MARKER_PREFIX) + 1}, 36) ~ '{_UUID}' "
    f"THEN substr(btrim(s.h6_observa), {len(MARKER_PREFIX) + 1}, 36)::uuid END)"
)


def _order_columns(dialect: Dialect) -> tuple[Column, ...]:
    """SC2's columns with the order key as the services build it and the production
    service's status (over the row's `moves` and `last_activity`, on the plant's `:today`)."""
    names = ("c2_num", "c2_produto", "c2_local", "c2_um", "c2_datpri", "c2_datprf",
             "c2_datrf", "c2_emissao", "c2_tpop", "c2_status")  # fmt: skip
    numbers = ("c2_quant", "c2_quje", "c2_perda")
    return (
        Column("order_key", order_key_sql("y", dialect.name)),
        *(Column(name, f"y.{name}") for name in names),
        *(Column(name, f"y.{name}", number=True) for name in numbers),
        Column("status", order_status_sql(dialect)),
        Column("last_activity", "y.last_activity"),
    )


_ORDER_TARGETS = (
    "order_key", "order_number", "product", "warehouse", "unit", "quantity", "produced",
    "scrap", "planned_start", "planned_end", "closed_on", "issued_on", "order_type",
    "situation", "status", "last_activity",
)  # fmt: skip
_APPOINTMENT_TARGETS = (
    "order_key", "product", "operation", "machine", "start_at", "end_at", "good_quantity",
    "scrap_quantity", "part_total", "kind", "reason_code", "appointed_on", "warehouse",
    "lot", "operator", "ident", "document_id",
)  # fmt: skip
_APPOINTMENT_COLUMNS = (
    "h6_op", "h6_produto", "h6_operac", "h6_recurso", "h6_dataini", "h6_horaini",
    "h6_datafin", "h6_horafin", "h6_qtdprod", "h6_qtdperd", "h6_pt", "h6_tipo",
    "h6_motivo", "h6_dtapont", "h6_local", "h6_lotectl", "h6_operado", "h6_ident",
    "h6_observa",
)  # fmt: skip

MACHINES = Mirror(
    dataset="machines",
    alias="SH1",
    table="analytics_src.sh1",
    targets=("machine", "description", "work_center", "cost_center"),
    convert=", ".join(
        (_code("h1_codigo"), _code("h1_descri"), _text("h1_ctrab"), _text("h1_ccusto"))
    ),
    read=_columns("h1_codigo", "h1_descri", "h1_ctrab", "h1_ccusto"),
)

PRODUCTS = Mirror(
    dataset="products",
    alias="SB1",
    table="analytics_src.sb1",
    targets=("product", "description", "type", "unit", "product_group", "blocked"),
    convert=", ".join(
        (
            _code("b1_cod"),
            _code("b1_desc"),
            _text("b1_tipo"),
            _text("b1_um"),
            _text("b1_grupo"),
            "COALESCE(btrim(s.b1_msblql) = '1', false)",
        )
    ),
    read=_columns("b1_cod", "b1_desc", "b1_tipo", "b1_um", "b1_grupo", "b1_msblql"),
)

ORDERS = Mirror(
    dataset="orders",
    alias="SC2",
    table="analytics_src.sc2",
    targets=_ORDER_TARGETS,
    convert=", ".join(
        (
            "rtrim(s.order_key)",
            _code("c2_num"),
            _code("c2_produto"),
            _text("c2_local"),
            _text("c2_um"),
            _number("c2_quant"),
            _number("c2_quje"),
            _number("c2_perda"),
            _day("c2_datpri"),
            _day("c2_datprf"),
            _day("c2_datrf"),
            _day("c2_emissao"),
            _text("c2_tpop"),
            "s.situation",
            "s.status",
            _day("last_activity"),
        )
    ),
    read=_order_columns,
    derived=(("situation", lambda row: situation(str(row["c2_status"] or ""))),),
    activity=True,
)

APPOINTMENTS = Mirror(
    dataset="appointments",
    alias="SH6",
    table="analytics_src.sh6",
    targets=_APPOINTMENT_TARGETS,
    convert=", ".join(
        (
            _code("h6_op"),
            _text("h6_produto"),
            _text("h6_operac"),
            _text("h6_recurso"),
            _instant("h6_dataini", "h6_horaini"),
            _instant("h6_datafin", "h6_horafin"),
            _number("h6_qtdprod"),
            _number("h6_qtdperd"),
            _text("h6_pt"),
            _text("h6_tipo"),
            _text("h6_motivo"),
            _day("h6_dtapont"),
            _text("h6_local"),
            _text("h6_lotectl"),
            _text("h6_operado"),
            _text("h6_ident"),
            _DOCUMENT,
        )
    ),
    read=_columns(*_APPOINTMENT_COLUMNS, numbers=("h6_qtdprod", "h6_qtdperd")),
)

_REASON_TARGETS = ("source", "code", "description")

STOP_REASONS_CYN = Mirror(
    dataset="stop_reasons",
    alias="CYN",
    table="analytics_src.stop_reasons",
    targets=_REASON_TARGETS,
    convert=f"'CYN', {_code('cyn_cdsp')}, {_code('cyn_dssp')}",
    read=_columns("cyn_cdsp", "cyn_dssp"),
    source="CYN",
)

STOP_REASONS_SX5 = Mirror(
    dataset="stop_reasons",
    alias="SX5",
    table="analytics_src.stop_reasons",
    targets=_REASON_TARGETS,
    convert=f"'SX5', {_code('x5_chave')}, {_code('x5_descri')}",
    read=_columns("x5_chave", "x5_descri"),
    where="t.x5_tabela = :x5_tabela",
    source="SX5",
)

SX5_PARAMS = {"x5_tabela": SX5_STOP_REASONS_TABLE}

MIRRORS = (MACHINES, PRODUCTS, ORDERS, APPOINTMENTS, STOP_REASONS_CYN, STOP_REASONS_SX5)


# --- Protheus ------------------------------------------------------------------------------


def _hash(dialect: Dialect, columns: tuple[Column, ...]) -> str:
    """MD5 (32 hex digits) of the columns joined by '|', on the Protheus server."""
    if dialect.is_tsql:
        parts = [
            f"CONVERT(VARCHAR(40), CAST({c.sql} AS FLOAT), 2)" if c.number else c.sql
            for c in columns
        ]
        joined = ", '|', ".join(parts)
        return f"LOWER(CONVERT(CHAR(32), HASHBYTES('MD5', CONCAT({joined}, '')), 2))"
    parts = [f"CAST({c.sql} AS TEXT)" for c in columns]
    return f"md5(concat_ws('|', {', '.join(parts)}))"


def _filial_column(alias: str) -> str:
    """ALIAS_FILIAL, as Protheus names it (SB1 -> b1_filial, CYN -> cyn_filial)."""
    prefix = alias[1:] if alias.startswith("S") else alias
    return f"{prefix.lower()}_filial"


def _source_rows(dialect: Dialect, tables: Tables, mirror: Mirror, condition: str) -> str:
    """The live rows of the branch (`:filial`) satisfying `condition` on `t`, with what the
    columns need (an order's `moves` and `last_activity`)."""
    filters = [
        f"t.{_filial_column(mirror.alias)} = :filial",
        live("t"),
        *([mirror.where] if mirror.where else []),
        condition,
    ]
    extra = ", a.last_activity, a.moves" if mirror.activity else ""
    lateral = f" {order_activity_sql(dialect, tables, 't', 'a')}" if mirror.activity else ""
    return f"SELECT t.*{extra} FROM {tables[mirror.alias]} t{lateral} WHERE {' AND '.join(filters)}"


def _outer(dialect: Dialect, mirror: Mirror, inner: str, *, keys_only: bool) -> str:
    columns = mirror.read(dialect)
    values = "" if keys_only else "".join(f", {c.sql} AS {c.name}" for c in columns)
    return (
        f"SELECT y.r_e_c_n_o_ AS recno, {_hash(dialect, columns)} AS row_hash{values} "
        f"FROM ({inner}) y ORDER BY y.r_e_c_n_o_"
    )


@lru_cache(maxsize=32)
def key_page_sql(dialect: Dialect, tables: Tables, mirror: Mirror) -> str:
    """R_E_C_N_O_ and hash of the next `:limit` live rows of the branch after `:after`."""
    if dialect.is_tsql:
        body = _source_rows(dialect, tables, mirror, "t.r_e_c_n_o_ > :after")
        inner = body.replace("SELECT ", "SELECT TOP (:limit) ", 1) + " ORDER BY t.r_e_c_n_o_"
    else:
        inner = (
            _source_rows(dialect, tables, mirror, "t.r_e_c_n_o_ > :after")
            + " ORDER BY t.r_e_c_n_o_ LIMIT :limit"
        )
    return _outer(dialect, mirror, inner, keys_only=True)


@lru_cache(maxsize=32)
def rows_in_range_sql(dialect: Dialect, tables: Tables, mirror: Mirror) -> str:
    """The live rows of the branch with R_E_C_N_O_ from `:low` to `:high`, hashed."""
    inner = _source_rows(dialect, tables, mirror, "t.r_e_c_n_o_ BETWEEN :low AND :high")
    return _outer(dialect, mirror, inner, keys_only=False)


@lru_cache(maxsize=64)
def rows_in_list_sql(dialect: Dialect, tables: Tables, mirror: Mirror, count: int) -> str:
    """The live rows of the branch whose R_E_C_N_O_ is one of `:r0` ... `:r<count-1>`."""
    placeholders = ", ".join(f":r{i}" for i in range(count))
    inner = _source_rows(dialect, tables, mirror, f"t.r_e_c_n_o_ IN ({placeholders})")
    return _outer(dialect, mirror, inner, keys_only=False)


# --- MES --------------------------------------------------------------------------------------

CREATE_KEYS = """
CREATE TEMPORARY TABLE sync_keys (recno BIGINT PRIMARY KEY, row_hash TEXT NOT NULL)
ON COMMIT DROP
"""


def create_staging(columns: tuple[str, ...]) -> str:
    body = ", ".join(f"{name} TEXT" for name in columns)
    return (
        "CREATE TEMPORARY TABLE sync_rows (recno BIGINT PRIMARY KEY, row_hash TEXT NOT NULL, "
        f"{body}) ON COMMIT DROP"
    )


def delete_missing(mirror: Mirror) -> str:
    """Mirror rows of the branch (`$1`) no longer live in Protheus (deleted or gone)."""
    return f"""
DELETE FROM {mirror.table} m
WHERE m.branch = $1 AND NOT EXISTS (SELECT 1 FROM sync_keys k WHERE k.recno = m.recno)
"""


def delete_other_source(mirror: Mirror) -> str:
    """Stop reasons of the branch (`$1`) read from the other table (CYN appeared or went)."""
    return f"DELETE FROM {mirror.table} WHERE branch = $1 AND source <> $2"


def delete_branch(mirror: Mirror) -> str:
    return f"DELETE FROM {mirror.table} WHERE branch = $1"


def changed_page(mirror: Mirror) -> str:
    """The next `$2` R_E_C_N_O_ after `$1` that are new to the mirror or changed in Protheus."""
    return f"""
SELECT k.recno FROM sync_keys k
LEFT JOIN {mirror.table} m ON m.recno = k.recno
WHERE k.recno > $1 AND (m.recno IS NULL OR m.row_hash <> k.row_hash)
ORDER BY k.recno
LIMIT $2
"""


def upsert(mirror: Mirror) -> str:
    """Staged rows into the mirror, trimmed and typed (`$1` the branch, `$2` the zone)."""
    targets = ", ".join(mirror.targets)
    updates = ", ".join(
        f"{name} = EXCLUDED.{name}" for name in ("branch", "row_hash", *mirror.targets)
    )
    return f"""
INSERT INTO {mirror.table} AS m (recno, branch, row_hash, {targets}, synced_at)
SELECT s.recno, $1, s.row_hash, {mirror.convert}, now() FROM sync_rows s
ON CONFLICT (recno) DO UPDATE SET {updates}, synced_at = EXCLUDED.synced_at
"""


TRUNCATE_STAGING = "TRUNCATE sync_rows"

SET_PLANT = """
INSERT INTO analytics_src.plant (id, timezone) VALUES (true, $1)
ON CONFLICT (id) DO UPDATE SET timezone = EXCLUDED.timezone, updated_at = now()
WHERE analytics_src.plant.timezone IS DISTINCT FROM EXCLUDED.timezone
"""

DELETE_SHIFTS = "DELETE FROM analytics_src.shifts"
INSERT_SHIFTS = """
INSERT INTO analytics_src.shifts (shift, weekday, start_minute, end_minute)
SELECT * FROM unnest($1::int[], $2::int[], $3::int[], $4::int[])
"""
