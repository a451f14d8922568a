"""Protheus's stop reasons (shared/protheus/stop_reasons.py): CYN where it exists, else SX5
table '44'; live rows of the branch's filial, trimmed, ordered by code."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest

from protheus_demo.vocabulary import (
    BRANCH_02_UNUSED_REASONS,
    LEGACY_STOP_REASONS,
    STOP_REASONS,
)
from shared.db.sources import open_protheus_source
from shared.protheus.branches import BranchResolver, ProtheusDictionary
from shared.protheus.context import ProtheusContext
from shared.protheus.stop_reasons import StopReason, stop_reasons
from tests.support.databases import odbc_url

Open = Callable[..., Awaitable[ProtheusContext]]


@pytest.fixture
async def open_context() -> AsyncIterator[Open]:
    """ProtheusContexts on demo databases, built as shared/app.py builds them."""
    opened: list[ProtheusContext] = []

    async def open_(url: str, *, company: str = "01", branch: str = "01") -> ProtheusContext:
        source = await open_protheus_source(
            url, company=company, pool_max=2, statement_timeout_ms=5000
        )
        context = ProtheusContext(
            source=source,
            company=company,
            branches=BranchResolver(source),
            default_branch=branch,
            dictionary=ProtheusDictionary(source),
        )
        opened.append(context)
        return context

    yield open_
    for context in opened:
        await context.source.close()


def expected(reasons: tuple[tuple[str, str], ...], skip: frozenset[str] = frozenset()) -> list:
    return [StopReason(code, text) for code, text in sorted(reasons) if code not in skip]


async def test_reasons_come_from_cyn_live_rows_of_the_default_branch(
    demo_protheus_dsn: str, open_context: Open
) -> None:
    protheus = await open_context(demo_protheus_dsn)
    reasons = await stop_reasons(protheus)
    # Branch 01's whole list: the retired reasons (deleted rows) are not there, and the
    # renamed one appears once, with its live description.
    assert reasons == expected(STOP_REASONS)
    assert StopReason("06", "AGUARDANDO QUALIDADE") in reasons
    assert all(reason.code != "13" for reason in reasons)


async def test_reasons_follow_the_branch_asked_for(
    demo_protheus_dsn: str, open_context: Open
) -> None:
    protheus = await open_context(demo_protheus_dsn)
    reasons = await stop_reasons(protheus, branch="02")
    assert reasons == expected(STOP_REASONS, BRANCH_02_UNUSED_REASONS)


async def test_reasons_through_odbc_are_the_same(
    demo_protheus_dsn: str, open_context: Open
) -> None:
    pytest.importorskip("pyodbc", reason="no unixODBC (libodbc) here", exc_type=ImportError)
    protheus = await open_context(odbc_url(demo_protheus_dsn))
    assert await stop_reasons(protheus, branch="02") == expected(
        STOP_REASONS, BRANCH_02_UNUSED_REASONS
    )


async def test_reasons_use_each_tables_filial_under_a_branch_layout(
    demo_two_companies_dsn: str, open_context: Open
) -> None:
    # Company 02: CYN exclusive, branch codes 01SP01/01SP02 padded to 8 characters.
    protheus = await open_context(demo_two_companies_dsn, company="02", branch="01SP02")
    assert await stop_reasons(protheus) == expected(STOP_REASONS, BRANCH_02_UNUSED_REASONS)
    assert await stop_reasons(protheus, branch="01SP01") == expected(STOP_REASONS)


async def test_without_cyn_reasons_come_from_sx5_table_44(
    clone_database: Callable[[str], Awaitable[str]], open_context: Open
) -> None:
    dsn = await clone_database("demo")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("DROP TABLE cyn010")
        # A crafted SX5 row of another table under a reason's key, and a '44' row that
        # was deleted: neither is a reason.
        other = await conn.fetchval(
            "SELECT count(*) FROM sx5010 WHERE x5_tabela <> '44' AND d_e_l_e_t_ = ' '"
        )
        deleted = await conn.fetchval(
            "SELECT count(*) FROM sx5010 WHERE x5_tabela = '44' AND d_e_l_e_t_ = '*'"
        )
    finally:
        await conn.close()
    assert other > 0
    assert deleted > 0
    protheus = await open_context(dsn)
    # SX5 is shared: every branch gets the same legacy list.
    assert await stop_reasons(protheus) == expected(LEGACY_STOP_REASONS)
    assert await stop_reasons(protheus, branch="02") == expected(LEGACY_STOP_REASONS)


async def test_reasons_of_an_unknown_branch_are_none(
    demo_protheus_dsn: str, open_context: Open
) -> None:
    protheus = await open_context(demo_protheus_dsn)
    assert await stop_reasons(protheus, branch="07") == []


async def test_a_database_with_neither_cyn_nor_sx5_has_no_reasons(
    clone_database: Callable[[str], Awaitable[str]], open_context: Open
) -> None:
    dsn = await clone_database("demo")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("DROP TABLE cyn010; DROP TABLE sx5010")
    finally:
        await conn.close()
    protheus = await open_context(dsn)
    assert await stop_reasons(protheus) == []
