"""What each catalog route does: resolve branches, run its one statement, shape the seed's answer."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from services.catalog import queries
from services.catalog.bom import flat_page, nest_page
from services.catalog.search import MAX_TERMS, SearchText, like_contains, search_params
from shared.db.dialect import Dialect
from shared.db.sources import ProtheusSource, Row
from shared.errors import NotFound, invalid_parameter
from shared.pagination import Page, split_page
from shared.protheus.branches import BranchResolver
from shared.protheus.naming import Tables
from shared.settings import Settings


@dataclass(frozen=True)
class Catalog:
    """The catalog's view of Protheus: the source, the branch resolver and the settings."""

    source: ProtheusSource
    branches: BranchResolver
    settings: Settings

    @property
    def dialect(self) -> Dialect:
        return self.source.dialect

    @property
    def company(self) -> str:
        return self.settings.protheus_company

    @property
    def tables(self) -> Tables:
        return Tables(self.settings.protheus_company)

    async def filial(self, alias: str, branch: str | None = None) -> str:
        return await self.branches.filial(alias, branch or self.settings.protheus_branch)

    async def kept(self, alias: str) -> int:
        """How much of a row's branch the table keeps, for joins keyed by row branch."""
        return await self.branches.kept(alias)

    def today(self) -> dt.date:
        return dt.datetime.now(self.settings.tz).date()

    async def fetch_page(
        self, sql: str, params: dict[str, Any], page: Page, key: str
    ) -> tuple[Row, list[Row]]:
        """Run a paged statement: its header row (found, total...) and the page's rows."""
        rows = await self.source.fetch(
            sql,
            {
                **params,
                "limit": page.size,
                "offset": page.offset,
                "page_end": page.offset + page.size,
            },
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


async def list_products(catalog: Catalog, params: dict[str, Any]) -> dict[str, Any]:
    sql = queries.list_products(catalog.dialect, catalog.tables, params["include_blocked"])
    rows = await catalog.source.fetch(
        sql, {"sb1_filial": await catalog.filial("SB1"), "limit": params["limit"]}
    )
    return {"total": len(rows), "produtos": [upper_keys(r) for r in rows]}


async def get_product(catalog: Catalog, code: str) -> dict[str, Any]:
    rows = await catalog.source.fetch(
        queries.product(catalog.dialect, catalog.tables),
        {"sb1_filial": await catalog.filial("SB1"), "code": code},
    )
    if not rows:
        raise not_found(code)
    product = upper_keys(rows[0])
    product["blocked"] = product["B1_MSBLQL"] == "1"
    return {"produto": product}


async def search_by_description(
    catalog: Catalog, params: dict[str, Any]
) -> tuple[dict[str, Any], Page]:
    page = Page.from_params(params)
    text = _parse_search(params["description"])
    sql = queries.search_description(
        catalog.dialect, catalog.tables, len(text.terms), params["include_blocked"]
    )
    args = {"sb1_filial": await catalog.filial("SB1"), **search_params(text, catalog.dialect)}
    header, rows = await catalog.fetch_page(sql, args, page, "b1_cod")
    total = int(header["total"])
    body = page.envelope(
        total,
        [
            upper_keys(r, *RANKED_SKIP) | {"relevance_score": int(r["relevance_score"])}
            for r in rows
        ],
        filters={
            "description": params["description"],
            "include_blocked": params["include_blocked"],
        },
        data_key="results",
    )
    body["description"] = params["description"]
    return body, page


async def search_products(catalog: Catalog, params: dict[str, Any]) -> tuple[dict[str, Any], Page]:
    page = Page.from_params(params)
    text = _parse_search(params["description"]) if params["description"] else None
    code, group = params["code"], params["group"]
    sql = queries.search_products(
        catalog.dialect,
        catalog.tables,
        len(text.terms) if text else 0,
        by_code=code is not None,
        by_group=group is not None,
        include_blocked=params["include_blocked"],
    )
    args: dict[str, Any] = {"sb1_filial": await catalog.filial("SB1")}
    if text:
        args |= search_params(text, catalog.dialect)
    if code is not None:
        args["code_like"] = like_contains(code, catalog.dialect)
    if group is not None:
        args["group"] = group
    header, rows = await catalog.fetch_page(sql, args, page, "b1_cod")
    total = int(header["total"])
    items = [
        upper_keys(r, *RANKED_SKIP) | {"relevance_score": int(r["relevance_score"])} for r in rows
    ]
    filters = {"code": code, "description": params["description"], "group": group}
    return page.envelope(total, items, filters=filters), page


# --- bill of materials ----------------------------------------------------------------------------


async def _tree(
    catalog: Catalog, code: str, params: dict[str, Any], *, upward: bool
) -> tuple[dict[str, Any], Page]:
    page = Page.from_params(params)
    reference = params["date"] or catalog.today()
    cap = catalog.settings.catalog_max_bom_rows
    build = queries.parents if upward else queries.structure
    args = {
        "code": code,
        "sb1_filial": await catalog.filial("SB1"),
        "sg1_filial": await catalog.filial("SG1"),
        "ref_date": reference.strftime("%Y%m%d"),
        "max_depth": params["max_depth"],
        "cap": cap + 1,
    }
    header, rows = await catalog.fetch_page(
        build(catalog.dialect, catalog.tables), args, page, "code"
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
    shape = flat_page if params["format"] == "flat" else nest_page
    root = {
        "code": code,
        "description": header["root_description"],
        "level": 0,
        "quantity": 1.0,
        "cumulativeQuantity": 1.0,
        "unit": header["root_unit"],
        "components": shape(rows, parent_key),
    }
    filters = {
        "max_depth": params["max_depth"],
        "date": reference.isoformat(),
        "format": params["format"],
    }
    return page.envelope(total, root, filters=filters), page


async def structure(
    catalog: Catalog, code: str, params: dict[str, Any]
) -> tuple[dict[str, Any], Page]:
    return await _tree(catalog, code, params, upward=False)


async def parents(
    catalog: Catalog, code: str, params: dict[str, Any]
) -> tuple[dict[str, Any], Page]:
    return await _tree(catalog, code, params, upward=True)


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


async def guide(catalog: Catalog, code: str, params: dict[str, Any]) -> tuple[dict[str, Any], Page]:
    page = Page.from_params(params)
    branch = params["branch"]
    include = params["include_components"]
    cap = catalog.settings.catalog_max_bom_rows
    args: dict[str, Any] = {"code": code, "sb1_filial": await catalog.filial("SB1", branch)}
    if include:
        args |= {
            "sg1_filial": await catalog.filial("SG1", branch),
            "ref_date": catalog.today().strftime("%Y%m%d"),
            "max_depth": params["max_depth"],
            "cap": cap + 1,
        }
    if branch:
        args["sg2_filial"] = await catalog.filial("SG2", branch)
    sql = queries.guide(catalog.dialect, catalog.tables, include, branch is not None)
    header, rows = await catalog.fetch_page(sql, args, page, "g2_produto")
    if not header["found"]:
        raise not_found(code)
    if int(header["exploded"] or 0) > cap:
        raise invalid_parameter(
            "max_depth", "too_many_rows", f"a estrutura passa de {cap} linhas; reduza max_depth."
        )
    filters = {"branch": branch, "include_components": include, "max_depth": params["max_depth"]}
    return page.envelope(int(header["total"]), [_guide_row(r) for r in rows], filters=filters), page


def _stock_row(row: Row) -> dict[str, Any]:
    item = upper_keys(row, "found", "total", "available", "b1_segum")
    return {
        **item,
        "B2_QPEDI": item["B2_SALPEDI"],
        "B2_SEGUM": row["b1_segum"],
        "B2_QTREC": item["B2_QACLASS"],
        "available": row["available"],
    }


async def stock(catalog: Catalog, code: str, params: dict[str, Any]) -> tuple[dict[str, Any], Page]:
    page = Page.from_params(params)
    branch, location = params["branch"], params["location"]
    args: dict[str, Any] = {
        "code": code,
        # The product must exist in the branch asked for (SB1's filial of that branch).
        "sb1_filial": await catalog.filial("SB1", branch),
        "sb1_kept": await catalog.kept("SB1"),
    }
    if branch:
        args["sb2_filial"] = await catalog.filial("SB2", branch)
    if location:
        args["location"] = location
    sql = queries.stock(catalog.dialect, catalog.tables, branch is not None, location is not None)
    header, rows = await catalog.fetch_page(sql, args, page, "b2_cod")
    if not header["found"]:
        raise not_found(code)
    filters = {"branch": branch, "location": location}
    return page.envelope(int(header["total"]), [_stock_row(r) for r in rows], filters=filters), page


async def suppliers(
    catalog: Catalog, code: str, params: dict[str, Any]
) -> tuple[dict[str, Any], Page]:
    page = Page.from_params(params)
    args = {
        "code": code,
        "sb1_filial": await catalog.filial("SB1"),
        "sa5_filial": await catalog.filial("SA5"),
        "sa2_filial": await catalog.filial("SA2"),
    }
    header, rows = await catalog.fetch_page(
        queries.suppliers(catalog.dialect, catalog.tables), args, page, "a5_fornece"
    )
    if not header["found"]:
        raise not_found(code)
    items = [upper_keys(r, "found", "total") for r in rows]
    return page.envelope(int(header["total"]), items, filters={}), page


async def invoice_items(
    catalog: Catalog, code: str, params: dict[str, Any], direction: Literal["inbound", "outbound"]
) -> tuple[dict[str, Any], Page]:
    page = Page.from_params(params)
    inbound = direction == "inbound"
    # The seed's partner parameter of each direction, then the other kind of partner.
    partner_param, other_param, name_key = (
        ("supplier", "customer", "supplier_name")
        if inbound
        else ("customer", "supplier", "customer_name")
    )
    item_alias = "SD1" if inbound else "SD2"
    branch, supplier, customer = params["branch"], params["supplier"], params["customer"]
    since, until = params["issue_date_start"], params["issue_date_end"]
    args: dict[str, Any] = {
        "code": code,
        "sb1_filial": await catalog.filial("SB1"),
        "sa1_kept": await catalog.kept("SA1"),
        "sa2_kept": await catalog.kept("SA2"),
        "head_kept": await catalog.kept("SF1" if inbound else "SF2"),
    }
    if branch:
        args["item_filial"] = await catalog.filial(item_alias, branch)
    if supplier:
        args["supplier"] = supplier
    if customer:
        args["customer"] = customer
    if since:
        args["since"] = since.strftime("%Y%m%d")
    if until:
        args["until"] = until.strftime("%Y%m%d")
    sql = queries.invoice_items(
        catalog.dialect,
        catalog.tables,
        direction,
        by_branch=branch is not None,
        by_supplier=supplier is not None,
        by_customer=customer is not None,
        since=since is not None,
        until=until is not None,
    )
    prefix = "d1" if inbound else "d2"
    header, rows = await catalog.fetch_page(sql, args, page, f"{prefix}_doc")
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
        partner_param: params[partner_param],
        "branch": branch,
    }
    if params[other_param] is not None:  # an addition to the seed's filters, echoed when used
        filters[other_param] = params[other_param]
    return page.envelope(int(header["total"]), items, filters=filters), page
