"""URL table of the production service."""

from __future__ import annotations

from aiohttp import web

from shared.app import use_mes_pool, use_protheus
from shared.openapi import publish_openapi

DESCRIPTION = (
    "Ordens de produção (SC2) com status e progresso, e apontamentos de produção "
    "enviados ao Protheus (MATA681) de forma durável e exatamente uma vez."
)


def register(app: web.Application) -> None:
    use_mes_pool(app)
    # Reports are accepted with the ERP database down, so it does not gate readiness.
    use_protheus(app, required=False)
    publish_openapi(app, "production", "Production API", DESCRIPTION)
