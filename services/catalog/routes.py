"""URL table of the catalog service: the seed's 11 routes under /api/v1 and unversioned."""

from __future__ import annotations

from aiohttp import web

from services.catalog import handlers

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


def add_routes(app: web.Application) -> None:
    for suffix, handler, name in ROUTES:
        app.router.add_get(f"/api/v1/products{suffix}", handler, name=name)
        app.router.add_get(f"/products{suffix}", handler, name=f"legacy_{name}")
