"""GET /api/v1/session: the caller's key name and scopes (the page offers what they allow)."""

from __future__ import annotations

from aiohttp import web

from services.web.session import schemas
from shared.auth import ANY_KEY
from shared.endpoint import endpoint
from shared.envelope import Reply
from shared.keys import CALLER, SETTINGS

SERVICE = "web"


@endpoint(
    service=SERVICE,
    scope=ANY_KEY,
    summary="Sessão da chave de API",
    description=(
        "Qualquer chave válida: devolve o nome e os escopos da chave enviada em "
        "`Authorization: Bearer <chave>` ou `X-API-Key`, e o fuso horário da planta "
        "(PLANT_TIMEZONE, nome IANA). O aplicativo web usa a resposta para entrar, decidir o "
        "que oferecer e mostrar e receber horários no relógio da planta."
    ),
    response=schemas.SessionResponse,
    errors=(401,),
)
async def session(request: web.Request) -> Reply:
    key = request[CALLER]
    timezone = request.app[SETTINGS].plant_timezone
    return Reply(
        {"name": key.name, "scopes": sorted(key.scopes), "timezone": timezone},
        "Sessão da chave de API.",
    )
