"""Application factory of the catalog service: base app, resources in start order, routes."""

from __future__ import annotations

from aiohttp import web

from services.catalog.routes import add_routes
from shared.app import add_resources, audit_log, create_service_app, protheus_database
from shared.openapi import publish_openapi
from shared.settings import Settings

SERVICE = "catalog"
TITLE = "Catálogo de produtos (Product API)"
DESCRIPTION = (
    "Consultas somente leitura às tabelas do Protheus: produtos (SB1), busca com ranking, "
    "estrutura (SG1), onde-usado, roteiro (SG2), estoque (SB2), fornecedores (SA5) e notas "
    "fiscais (SD1/SD2). Dicas: use /structure para a árvore de montagem e /parents para onde "
    "o item é usado; sempre pagine (page, page_size) e mantenha max_depth entre 5 e 10."
)


def setup(app: web.Application) -> None:
    """The catalog service on an app: its own, or the devserver's composed one."""
    # The catalog only reads the ERP: without its database it is not ready.
    add_resources(app, audit_log, protheus_database(required=True))
    add_routes(app)
    publish_openapi(app, SERVICE, "Product API (catálogo)", DESCRIPTION)


def create_app(settings: Settings) -> web.Application:
    """The catalog service alone, as `python -m services.catalog` serves it."""
    return create_service_app(settings, setup)
