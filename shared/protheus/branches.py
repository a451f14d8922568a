"""Branches (filiais) per table, as AdvPL's xFilial does, and the data dictionary the services need."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared.db.dialect import Dialect
from shared.db.sources import ProtheusSource
from shared.errors import DependencyUnavailable, Detail, InvalidParameter
from shared.protheus.keys import ORDER_KEY_COLUMNS, OrderKeyLayout
from shared.protheus.naming import Tables
from shared.protheus.sql import live

log = logging.getLogger(__name__)


class BranchError(InvalidParameter):
    """A branch code that does not fit the company's layout or FILIAL width (400)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, details=[Detail("branch", "layout", message)])


@dataclass(frozen=True)
class ShareMode:
    """One SX2 row: the share mode of each branch segment and the segment lengths.

    `company`/`unit` are X2_MODOEMP/X2_MODOUN (blank on old dictionaries), `branch` is
    X2_MODO; the lengths are X2_TAMEMP/X2_TAMUN/X2_TAMFIL (0 when absent).
    """

    branch: str = "E"
    company: str = ""
    unit: str = ""
    company_len: int = 0
    unit_len: int = 0
    branch_len: int = 0

    @property
    def layout(self) -> tuple[tuple[str, int], ...]:
        """(mode, length) of the company and unit segments, or () for an old dictionary
        (no MODOEMP/MODOUN, blank, or lengths 0): then only X2_MODO counts."""
        segments = tuple(
            (mode, length)
            for mode, length in ((self.company, self.company_len), (self.unit, self.unit_len))
            if length > 0
        )
        if not segments or any(mode not in ("C", "E") for mode, _ in segments):
            return ()
        return segments

    @property
    def code_length(self) -> int | None:
        """The length a branch code has under this table's layout (None: not declared)."""
        if not self.layout:
            return None
        return self.company_len + self.unit_len + self.branch_len or None

    def kept(self) -> int | None:
        """How many leading characters of the branch the table keeps (None: all of them).

        Modes are hierarchical: the first shared segment blanks itself and all after it.
        """
        keep = 0
        for mode, length in self.layout:
            if mode != "E":
                return keep
            keep += length
        return None if self.branch != "C" else keep


def xfilial(branch: str, mode: ShareMode | None, width: int | None = None) -> str:
    """What AdvPL's xFilial(alias) gives for `branch`: the kept prefix padded to the width.

    `mode` None is an exclusive table on an old dictionary (the whole code); `width` is
    the FILIAL column's width (None: unknown; CHAR comparison ignores trailing blanks, so
    the unpadded value, or one blank, matches all the same).
    """
    kept = None if mode is None else mode.kept()
    value = branch if kept is None else branch[:kept]
    return value.ljust(width) if width else value or " "


class BranchResolver:
    """What AdvPL's xFilial(alias) does for every table (PROTHEUS.md section 4).

    Modes come from SX2 (X2_CHAVE, X2_MODO and, under Gestão de Empresas, X2_MODOEMP,
    X2_MODOUN, X2_TAMEMP, X2_TAMUN, X2_TAMFIL), and the FILIAL widths from the catalog
    of columns, both read once and cached; where SX2 is absent the
    PROTHEUS_SHARED_TABLES setting says which tables are shared (whole code or blanks).
    """

    # SELECT *: old dictionaries lack the Gestão de Empresas columns.
    SQL_MODES = f"SELECT * FROM {{sx2}} WHERE {live()}"  # noqa: S608 - a fixed filter
    SQL_WIDTHS = (
        "SELECT table_name AS tab, column_name AS col, character_maximum_length AS width "
        "FROM information_schema.columns "
        "WHERE lower(table_name) LIKE '%{suffix}' AND lower(column_name) LIKE '%filial'"
    )

    def __init__(
        self, source: ProtheusSource, *, shared_tables: Sequence[str] = (), ttl_s: float = 600
    ) -> None:
        self.source = source
        self.fallback_shared = frozenset(shared_tables)
        self.ttl_s = ttl_s
        self._modes: dict[str, ShareMode] | None = None
        self._widths: dict[str, int] = {}
        self._loaded_at = 0.0
        self._lock = asyncio.Lock()

    async def modes(self) -> dict[str, ShareMode]:
        if self._modes is not None and time.monotonic() - self._loaded_at < self.ttl_s:
            return self._modes
        async with self._lock:
            if self._modes is None or time.monotonic() - self._loaded_at >= self.ttl_s:
                try:
                    rows = await self.source.fetch(
                        self.SQL_MODES.format(sx2=self.source.table("SX2"))
                    )
                    self._modes = {str(r["x2_chave"]).strip().upper(): share_mode(r) for r in rows}
                except DependencyUnavailable:
                    raise
                except Exception as exc:  # no SX2 on this database: use the setting
                    log.warning("SX2 not readable (%s); using PROTHEUS_SHARED_TABLES", exc)
                    self._modes = {}
                self._widths = await self._read_widths()
                self._loaded_at = time.monotonic()
        return self._modes

    async def _read_widths(self) -> dict[str, int]:
        """FILIAL width per alias ({alias}{company}0's *_FILIAL column), {} when unreadable."""
        suffix = f"{self.source.company.lower()}0"
        try:
            rows = await self.source.fetch(self.SQL_WIDTHS.format(suffix=suffix))
        except DependencyUnavailable:
            raise
        except Exception as exc:
            log.warning("FILIAL widths not readable (%s); branches are not padded", exc)
            return {}
        widths: dict[str, int] = {}
        for row in rows:
            table, column = str(row["tab"]).lower(), str(row["col"]).lower()
            alias = table[: -len(suffix)].upper()
            prefix = alias[1:] if alias.startswith("S") else alias
            if len(alias) == 3 and column == f"{prefix.lower()}_filial" and row["width"]:
                widths[alias] = int(row["width"])
        return widths

    def _mode(self, modes: dict[str, ShareMode], alias: str) -> ShareMode | None:
        mode = modes.get(alias)
        if mode is None and alias in self.fallback_shared:
            return ShareMode(branch="C")
        return mode

    async def check(self, branch: str, aliases: Sequence[str] = ()) -> None:
        """Raise BranchError when `branch` cannot be a branch of this company: longer than a
        FILIAL column, or not the length of a declared layout (X2_TAMEMP+TAMUN+TAMFIL)."""
        modes = await self.modes()
        names = [a.upper() for a in aliases] or sorted(set(modes) | set(self._widths))
        for alias in names:
            width = self._widths.get(alias)
            if width is not None and len(branch) > width:
                raise BranchError(
                    f"Filial {branch!r} tem {len(branch)} caracteres; o campo de filial "
                    f"da tabela {alias} comporta {width}."
                )
            mode = modes.get(alias)
            length = mode.code_length if mode else None
            if length is not None and len(branch) != length:
                raise BranchError(
                    f"Filial {branch!r} não segue o leiaute da empresa {self.source.company}: "
                    f"a tabela {alias} espera códigos de {length} caracteres "
                    "(empresa + unidade de negócio + filial)."
                )

    async def filial(self, alias: str, branch: str) -> str:
        """The value of ALIAS_FILIAL for `branch`: the prefix the table keeps, padded."""
        alias = alias.upper()
        modes = await self.modes()
        await self.check(branch, (alias,))
        return xfilial(branch, self._mode(modes, alias), self._widths.get(alias))

    async def kept(self, alias: str) -> int:
        """How many leading characters of a row's branch the table keeps, for joins that
        derive this table's FILIAL from another table's row: `left(row_filial, kept)`."""
        alias = alias.upper()
        mode = self._mode(await self.modes(), alias)
        kept = None if mode is None else mode.kept()
        return self._widths.get(alias, 99) if kept is None else kept


def share_mode(row: Mapping[str, Any]) -> ShareMode:
    """The ShareMode of one SX2 row (lower-case keys; absent columns count as blank/0)."""

    def mode(name: str) -> str:
        return str(row.get(name) or "").strip().upper()

    def length(name: str) -> int:
        try:
            return max(int(row.get(name) or 0), 0)
        except (TypeError, ValueError):
            return 0

    return ShareMode(
        branch=mode("x2_modo") or "E",
        company=mode("x2_modoemp"),
        unit=mode("x2_modoun"),
        company_len=length("x2_tamemp"),
        unit_len=length("x2_tamun"),
        branch_len=length("x2_tamfil"),
    )


# --- the data dictionary: column widths and optional tables ------------------------------


# Tables an installation may lack: SH3 (alternative resources), CYN (stop reasons of current
# releases; older ones keep them in SX5 table '44'), SX5 (absent only from old demo databases).
OPTIONAL_TABLES = ("SH3", "CYN", "SX5")


def dictionary_sql(dialect: Dialect, tables: Tables) -> str:
    """One row: the declared widths of SC2's key columns and whether each optional table
    exists (`has_sh3`, `has_cyn`, `has_sx5`). Only names derived from the validated company are
    formatted in."""
    sc2 = tables.sc2
    if dialect.is_tsql:
        widths = ", ".join(f"COL_LENGTH('{sc2}', '{c}') AS {c}" for c in ORDER_KEY_COLUMNS)
        exists = ", ".join(
            f"CASE WHEN OBJECT_ID('{tables[alias]}') IS NULL THEN 0 ELSE 1 END AS has_{alias.lower()}"
            for alias in OPTIONAL_TABLES
        )
        return f"SELECT {widths}, {exists}"
    widths = ", ".join(
        f"MAX(CASE WHEN column_name = '{c}' THEN character_maximum_length END) AS {c}"
        for c in ORDER_KEY_COLUMNS
    )
    exists = ", ".join(
        f"CASE WHEN to_regclass('{tables[alias]}') IS NULL THEN 0 ELSE 1 END AS has_{alias.lower()}"
        for alias in OPTIONAL_TABLES
    )
    return (
        f"SELECT {widths}, {exists} "  # noqa: S608 - validated names only
        f"FROM information_schema.columns WHERE table_name = '{sc2}' "
        "AND table_schema = ANY (current_schemas(false))"
    )


class ProtheusDictionary:
    """What the services need of Protheus's dictionary, read once (at start, else on first use):
    the order key's widths (SC2's columns) and which optional tables (SH3, CYN, SX5) exist."""

    def __init__(self, source: ProtheusSource) -> None:
        self.source = source
        self._layout: OrderKeyLayout | None = None
        self._has_sh3 = False
        self._stop_reason_table: str | None = None
        self._lock = asyncio.Lock()

    async def load(self) -> None:
        async with self._lock:
            if self._layout is not None:
                return
            rows = await self.source.fetch(
                dictionary_sql(self.source.dialect, Tables(self.source.company))
            )
            row = rows[0] if rows else {}
            widths = [row.get(column) for column in ORDER_KEY_COLUMNS]
            if any(width is None or int(width) <= 0 for width in widths[:3]):
                raise DependencyUnavailable(
                    f"Não foi possível ler as larguras de C2_NUM, C2_ITEM e C2_SEQUEN em "
                    f"{self.source.table('SC2')}: confira a tabela e a permissão de leitura."
                )
            num, item, sequen, itemgrd = (int(width or 0) for width in widths)
            self._has_sh3 = bool(row.get("has_sh3"))
            self._stop_reason_table = (
                "CYN" if row.get("has_cyn") else "SX5" if row.get("has_sx5") else None
            )
            self._layout = OrderKeyLayout(num, item, sequen, itemgrd)
            log.info(
                "order key layout from %s: %s; SH3 %s; stop reasons from %s",
                self.source.table("SC2"),
                self._layout.widths,
                "present" if self._has_sh3 else "absent",
                {"CYN": "CYN", "SX5": "SX5 table 44"}.get(self._stop_reason_table or "", "nowhere"),
            )

    async def order_key(self) -> OrderKeyLayout:
        """The order key's layout (DependencyUnavailable while the database cannot be read)."""
        if self._layout is None:
            await self.load()
        assert self._layout is not None
        return self._layout

    async def has_alternative_resources(self) -> bool:
        """Whether SH3 (alternative/secondary resources of an operation) exists."""
        await self.order_key()
        return self._has_sh3

    async def stop_reason_table(self) -> str | None:
        """Where the stop reasons live: "CYN" (current releases), else "SX5" (table '44');
        None when neither table exists."""
        await self.order_key()
        return self._stop_reason_table
