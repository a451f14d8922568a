"""URL table of the catalog service."""

from __future__ import annotations

from aiohttp import web

from shared.app import use_protheus
from shared.openapi import publish_openapi

DESCRIPTION = (
    "Consultas somente leitura às tabelas do Protheus: produtos (SB1), busca com ranking, "
    "estrutura (SG1), onde-usado, roteiro (SG2), estoque (SB2), fornecedores (SA5) e notas fiscais."
)


def register(app: web.Application) -> None:
    use_protheus(app, required=True)
    publish_openapi(app, "catalog", "Product API (catálogo)", DESCRIPTION)
