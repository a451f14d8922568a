"""What a service needs to read Protheus, in one value: the source, the company's tables,
the branch resolver, the default branch and the dictionary."""

from __future__ import annotations

from dataclasses import dataclass

from shared.db.dialect import Dialect
from shared.db.sources import ProtheusSource
from shared.protheus.branches import BranchResolver, ProtheusDictionary
from shared.protheus.naming import Tables


@dataclass(frozen=True)
class ProtheusContext:
    """The Protheus database as a service reads it (one per application)."""

    source: ProtheusSource
    company: str
    branches: BranchResolver
    default_branch: str
    dictionary: ProtheusDictionary

    @property
    def dialect(self) -> Dialect:
        """The SQL flavour to write now (an ODBC source refines it once the server answered)."""
        return self.source.dialect

    @property
    def tables(self) -> Tables:
        """Physical table names: `ctx.tables.sb1` or `ctx.tables["SB1"]` -> "sb1010"."""
        return Tables(self.company)

    async def filial(self, alias: str, branch: str | None = None) -> str:
        """ALIAS_FILIAL's value for `branch` (the default branch when None)."""
        return await self.branches.filial(alias, self.default_branch if branch is None else branch)

    async def kept(self, alias: str) -> int:
        """How many leading characters of a row's branch the table keeps (for derived joins)."""
        return await self.branches.kept(alias)
