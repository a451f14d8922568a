"""What each catalog route does: resolve branches, run its one statement, shape the seed's answer."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from services.catalog import queries
from services.catalog.bom import flat_page, nest_page
from services.catalog.search import MAX_TERMS, SearchText, like_contains, search_params
from shared.db.sources import Row
from shared.errors import NotFound, invalid_parameter
from shared.pagination import Page, PagedRows, split_page
from shared.protheus.context import ProtheusContext
from shared.protheus.dates import dtos


async def fetch_page(
    protheus: ProtheusContext, sql: str, params: dict[str, Any], page: Page, key: str
) -> PagedRows:
    """Run a paged statement: its header row (found, total...) and the page's rows."""
    rows = await protheus.source.fetch(
        sql,
        {**params, "limit": page.size, "offset": page.offset, "page_end": page.offset + page.size},
    )
    return split_page(rows, key, defaults={"found": 0, "total": 0})


def upper_keys(row: Row, *skip: str) -> dict[str, Any]:
    return {key.upper(): value for key, value in row.items() if key not in skip}


def not_found(code: str) -> NotFound:
    return NotFound(f"Produto {code} não encontrado.")


def _parse_search(text: str) -> SearchText:
    parsed = SearchText.parse(text)
    if not parsed.terms:
        raise invalid_parameter("description", "required", "informe ao menos uma palavra.")
    if len(parsed.terms) > MAX_TERMS:
        raise invalid_parameter(
            "description", "terms", f"use no máximo {MAX_TERMS} palavras distintas."
        )
    return parsed


# --- products ---------------------------------------------------------------------------------

RANKED_SKIP = ("nd", "total", "found", "relevance_score")


async def list_products(
    protheus: ProtheusContext, *, limit: int, include_blocked: bool
) -> dict[str, Any]:
    sql = queries.list_products(protheus.dialect, protheus.tables, include_blocked)
    rows = await protheus.source.fetch(
        sql, {"sb1_filial": await protheus.filial("SB1"), "limit": limit}
    )
    return {"total": len(rows), "produtos": [upper_keys(r) for r in rows]}


async def get_product(protheus: ProtheusContext, *, code: str) -> dict[str, Any]:
    rows = await protheus.source.fetch(
        queries.product(protheus.dialect, protheus.tables),
        {"sb1_filial": await protheus.filial("SB1"), "code": code},
    )
    if not rows:
        raise not_found(code)
    product = upper_keys(rows[0])
    product["blocked"] = product["B1_MSBLQL"] == "1"
    return {"produto": product}


async def search_by_description(
    protheus: ProtheusContext, *, description: str, include_blocked: bool, page: Page
) -> dict[str, Any]:
    text = _parse_search(description)
    sql = queries.search_description(
        protheus.dialect, protheus.tables, len(text.terms), include_blocked
    )
    args = {"sb1_filial": await protheus.filial("SB1"), **search_params(text, protheus.dialect)}
    header, rows = await fetch_page(protheus, sql, args, page, "b1_cod")
    total = int(header["total"])
    body = page.envelope(
        total,
        [
            upper_keys(r, *RANKED_SKIP) | {"relevance_score": int(r["relevance_score"])}
            for r in rows
        ],
        filters={"description": description, "include_blocked": include_blocked},
        data_key="results",
    )
    body["description"] = description
    return body


async def search_products(
    protheus: ProtheusContext,
    *,
    code: str | None,
    description: str | None,
    group: str | None,
    include_blocked: bool,
    page: Page,
) -> dict[str, Any]:
    text = _parse_search(description) if description else None
    sql = queries.search_products(
        protheus.dialect,
        protheus.tables,
        len(text.terms) if text else 0,
        by_code=code is not None,
        by_group=group is not None,
        include_blocked=include_blocked,
    )
    args: dict[str, Any] = {"sb1_filial": await protheus.filial("SB1")}
    if text:
        args |= search_params(text, protheus.dialect)
    if code is not None:
        args["code_like"] = like_contains(code, protheus.dialect)
    if group is not None:
        args["group"] = group
    header, rows = await fetch_page(protheus, sql, args, page, "b1_cod")
    total = int(header["total"])
    items = [
        upper_keys(r, *RANKED_SKIP) | {"relevance_score": int(r["relevance_score"])} for r in rows
    ]
    filters = {"code": code, "description": description, "group": group}
    return page.envelope(total, items, filters=filters)


# --- bill of materials ----------------------------------------------------------------------------

TreeShape = Literal["nested", "flat"]


async def tree(
    protheus: ProtheusContext,
    *,
    upward: bool,
    code: str,
    max_depth: int,
    date: dt.date,
    shape: TreeShape,
    page: Page,
    max_rows: int,
) -> dict[str, Any]:
    """The BOM page of `code`, lines valid on `date`: its explosion (what it is made of), or
    with `upward` where it is used; more than `max_rows` lines is a 400."""
    cap = max_rows
    build = queries.parents if upward else queries.structure
    args = {
        "code": code,
        "sb1_filial": await protheus.filial("SB1"),
        "sg1_filial": await protheus.filial("SG1"),
        "ref_date": dtos(date),
        "max_depth": max_depth,
        "cap": cap + 1,
    }
    header, rows = await fetch_page(
        protheus, build(protheus.dialect, protheus.tables), args, page, "code"
    )
    if not header["found"]:
        raise not_found(code)
    total = int(header["total"])
    if total > cap:
        raise invalid_parameter(
            "max_depth",
            "too_many_rows",
            f"a explosão passa de {cap} linhas; reduza max_depth ou consulte um subconjunto.",
        )
    parent_key = "child_code" if upward else "parent_code"
    layout = flat_page if shape == "flat" else nest_page
    root = {
        "code": code,
        "description": header["root_description"],
        "level": 0,
        "quantity": 1.0,
        "cumulativeQuantity": 1.0,
        "unit": header["root_unit"],
        "components": layout(rows, parent_key),
    }
    filters = {"max_depth": max_depth, "date": date.isoformat(), "format": shape}
    return page.envelope(total, root, filters=filters)


# --- routing, stock, suppliers, invoices ----------------------------------------------------------


def _guide_row(row: Row) -> dict[str, Any]:
    item = upper_keys(row, "bom_level", "found", "total", "exploded")
    # The seed's keys, filled from the columns that mean them, beside the real ones.
    return {
        "G2_FILIAL": item["G2_FILIAL"],
        "G2_PRODUTO": item["G2_PRODUTO"],
        "G2_OPER": item["G2_OPERAC"],
        "G2_RECURSO": item["G2_RECURSO"],
        "G2_TEMPO": item["G2_TEMPAD"],
        "bomLevel": int(row["bom_level"]),
        **item,
    }


async def guide(
    protheus: ProtheusContext,
    *,
    code: str,
    branch: str | None,
    include_components: bool,
    max_depth: int,
    page: Page,
    date: dt.date,
    max_rows: int,
) -> dict[str, Any]:
    """The routing of `code` and, with `include_components`, of its components (the
    structure as valid on `date`, at most `max_rows` lines)."""
    include = include_components
    cap = max_rows
    args: dict[str, Any] = {"code": code, "sb1_filial": await protheus.filial("SB1", branch)}
    if include:
        args |= {
            "sg1_filial": await protheus.filial("SG1", branch),
            "ref_date": dtos(date),
            "max_depth": max_depth,
            "cap": cap + 1,
        }
    if branch:
        args["sg2_filial"] = await protheus.filial("SG2", branch)
    sql = queries.guide(protheus.dialect, protheus.tables, include, branch is not None)
    header, rows = await fetch_page(protheus, sql, args, page, "g2_produto")
    if not header["found"]:
        raise not_found(code)
    if int(header["exploded"] or 0) > cap:
        raise invalid_parameter(
            "max_depth", "too_many_rows", f"a estrutura passa de {cap} linhas; reduza max_depth."
        )
    filters = {"branch": branch, "include_components": include, "max_depth": max_depth}
    return page.envelope(int(header["total"]), [_guide_row(r) for r in rows], filters=filters)


def _stock_row(row: Row) -> dict[str, Any]:
    item = upper_keys(row, "found", "total", "available", "b1_segum")
    return {
        **item,
        "B2_QPEDI": item["B2_SALPEDI"],
        "B2_SEGUM": row["b1_segum"],
        "B2_QTREC": item["B2_QACLASS"],
        "available": row["available"],
    }


async def stock(
    protheus: ProtheusContext, *, code: str, branch: str | None, location: str | None, page: Page
) -> dict[str, Any]:
    args: dict[str, Any] = {
        "code": code,
        # The product must exist in the branch asked for (SB1's filial of that branch).
        "sb1_filial": await protheus.filial("SB1", branch),
        "sb1_kept": await protheus.kept("SB1"),
    }
    if branch:
        args["sb2_filial"] = await protheus.filial("SB2", branch)
    if location:
        args["location"] = location
    sql = queries.stock(protheus.dialect, protheus.tables, branch is not None, location is not None)
    header, rows = await fetch_page(protheus, sql, args, page, "b2_cod")
    if not header["found"]:
        raise not_found(code)
    filters = {"branch": branch, "location": location}
    return page.envelope(int(header["total"]), [_stock_row(r) for r in rows], filters=filters)


async def suppliers(protheus: ProtheusContext, *, code: str, page: Page) -> dict[str, Any]:
    args = {
        "code": code,
        "sb1_filial": await protheus.filial("SB1"),
        "sa5_filial": await protheus.filial("SA5"),
        "sa2_filial": await protheus.filial("SA2"),
    }
    header, rows = await fetch_page(
        protheus, queries.suppliers(protheus.dialect, protheus.tables), args, page, "a5_fornece"
    )
    if not header["found"]:
        raise not_found(code)
    items = [upper_keys(r, "found", "total") for r in rows]
    return page.envelope(int(header["total"]), items, filters={})


async def invoice_items(
    protheus: ProtheusContext,
    *,
    code: str,
    direction: Literal["inbound", "outbound"],
    branch: str | None,
    supplier: str | None,
    customer: str | None,
    issue_date_start: dt.date | None,
    issue_date_end: dt.date | None,
    page: Page,
) -> dict[str, Any]:
    inbound = direction == "inbound"
    # The seed's partner parameter of each direction, then the other kind of partner.
    partner_param, other_param, name_key = (
        ("supplier", "customer", "supplier_name")
        if inbound
        else ("customer", "supplier", "customer_name")
    )
    item_alias = "SD1" if inbound else "SD2"
    since, until = issue_date_start, issue_date_end
    partners = {"supplier": supplier, "customer": customer}
    args: dict[str, Any] = {
        "code": code,
        "sb1_filial": await protheus.filial("SB1"),
        "sa1_kept": await protheus.kept("SA1"),
        "sa2_kept": await protheus.kept("SA2"),
        "head_kept": await protheus.kept("SF1" if inbound else "SF2"),
    }
    if branch:
        args["item_filial"] = await protheus.filial(item_alias, branch)
    if supplier:
        args["supplier"] = supplier
    if customer:
        args["customer"] = customer
    if since:
        args["since"] = dtos(since)
    if until:
        args["until"] = dtos(until)
    sql = queries.invoice_items(
        protheus.dialect,
        protheus.tables,
        direction,
        by_branch=branch is not None,
        by_supplier=supplier is not None,
        by_customer=customer is not None,
        since=since is not None,
        until=until is not None,
    )
    prefix = "d1" if inbound else "d2"
    header, rows = await fetch_page(protheus, sql, args, page, f"{prefix}_doc")
    if not header["found"]:
        raise not_found(code)
    items = [
        upper_keys(r, "found", "total", "partner_name", "partner_type")
        | {name_key: r["partner_name"], "partnerType": r["partner_type"]}
        for r in rows
    ]
    filters = {
        "issue_date_start": args.get("since"),
        "issue_date_end": args.get("until"),
        partner_param: partners[partner_param],
        "branch": branch,
    }
    if partners[other_param] is not None:  # an addition to the seed's filters, echoed when used
        filters[other_param] = partners[other_param]
    return page.envelope(int(header["total"]), items, filters=filters)
