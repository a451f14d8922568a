"""GET /api/v1/session: the caller's key name and scopes (the page offers what they allow)."""

from __future__ import annotations

from aiohttp import web

from services.web.session import schemas
from shared.auth import ANY_KEY
from shared.endpoint import endpoint
from shared.envelope import Reply
from shared.keys import CALLER

SERVICE = "web"


@endpoint(
    service=SERVICE,
    scope=ANY_KEY,
    summary="Sessão da chave de API",
    description=(
        "Qualquer chave válida: devolve o nome e os escopos da chave enviada em "
        "`Authorization: Bearer <chave>` ou `X-API-Key`. O aplicativo web usa a resposta para "
        "entrar e decidir o que oferecer."
    ),
    response=schemas.SessionResponse,
    errors=(401,),
)
async def session(request: web.Request) -> Reply:
    key = request[CALLER]
    return Reply({"name": key.name, "scopes": sorted(key.scopes)}, "Sessão da chave de API.")
