"""URL table of the catalog service: the seed's 11 routes under /api/v1 and unversioned."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from services.catalog import handlers
from services.catalog.keys import CATALOG
from services.catalog.service import Catalog
from shared.app import use_protheus
from shared.keys import BRANCHES, PROTHEUS, SETTINGS
from shared.openapi import publish_openapi

DESCRIPTION = (
    "Consultas somente leitura às tabelas do Protheus: produtos (SB1), busca com ranking, "
    "estrutura (SG1), onde-usado, roteiro (SG2), estoque (SB2), fornecedores (SA5) e notas "
    "fiscais (SD1/SD2). Dicas: use /structure para a árvore de montagem e /parents para onde "
    "o item é usado; sempre pagine (page, page_size) e mantenha max_depth entre 5 e 10."
)

# Specific paths before `{code}` so "search" is never taken for a product code.
ROUTES = (
    ("", handlers.list_products, "products_list"),
    ("/", handlers.list_products, "products_list_slash"),
    ("/search/description", handlers.search_description, "products_search_description"),
    ("/search", handlers.search_products, "products_search"),
    ("/{code}", handlers.get_product, "product"),
    ("/{code}/structure", handlers.structure, "product_structure"),
    ("/{code}/parents", handlers.parents, "product_parents"),
    ("/{code}/suppliers", handlers.suppliers, "product_suppliers"),
    (
        "/{code}/inbound-invoice-items",
        handlers.inbound_invoice_items,
        "product_inbound_invoice_items",
    ),
    (
        "/{code}/outbound-invoice-items",
        handlers.outbound_invoice_items,
        "product_outbound_invoice_items",
    ),
    ("/{code}/stock", handlers.stock, "product_stock"),
    ("/{code}/guide", handlers.guide, "product_guide"),
)


async def _catalog(app: web.Application) -> AsyncIterator[None]:
    app[CATALOG] = Catalog(source=app[PROTHEUS], branches=app[BRANCHES], settings=app[SETTINGS])
    yield


def register(app: web.Application) -> None:
    use_protheus(app, required=True)
    app.cleanup_ctx.append(_catalog)
    for suffix, handler, name in ROUTES:
        app.router.add_get(f"/api/v1/products{suffix}", handler, name=name)
        app.router.add_get(f"/products{suffix}", handler, name=f"legacy_{name}")
    publish_openapi(app, "catalog", "Product API (catálogo)", DESCRIPTION)
