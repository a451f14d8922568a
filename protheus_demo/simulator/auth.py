"""OAuth2 token grants and the check every other route makes (Bearer token or Basic credentials)."""

from __future__ import annotations

import base64
import binascii
import secrets

from aiohttp import web

from protheus_demo.simulator.config import SimulatorConfig
from protheus_demo.simulator.errors import Handler, RestFault, json_response
from protheus_demo.simulator.keys import get_config, get_faults, get_tokens

OAUTH2_PATH = "/rest/api/oauth2/v1/token"
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="protheus"'}


def _unauthorized(message: str, detailed: str) -> RestFault:
    return RestFault(401, message, detailed, headers=_CHALLENGE)


def credentials_match(config: SimulatorConfig, user: str, password: str) -> bool:
    # Both comparisons always run: the answer time says nothing about which part failed.
    user_ok = secrets.compare_digest(user.encode(), config.user.encode())
    password_ok = secrets.compare_digest(password.encode(), config.password.encode())
    return user_ok and password_ok


async def token_grant(request: web.Request) -> web.Response:
    """POST /rest/api/oauth2/v1/token: password and refresh_token grants (HTTP 201)."""
    params = dict(request.query)
    if request.content_type == "application/x-www-form-urlencoded":
        # Some clients send the grant as a form body instead of the query string.
        form = await request.post()
        params.update({name: str(value) for name, value in form.items()})
    config, tokens, faults = (
        get_config(request.app),
        get_tokens(request.app),
        get_faults(request.app),
    )
    grant = params.get("grant_type", "")
    if grant == "password":
        if not credentials_match(config, params.get("username", ""), params.get("password", "")):
            raise _unauthorized(
                "Usuário ou senha inválidos.",
                "OAUTH2: credenciais rejeitadas para grant_type=password",
            )
    elif grant == "refresh_token":
        if not tokens.redeem_refresh(params.get("refresh_token", "")):
            raise _unauthorized(
                "Refresh token inválido ou expirado. Faça login novamente.",
                "OAUTH2: refresh_token desconhecido, já utilizado ou expirado",
            )
    else:
        raise RestFault(
            400,
            f"grant_type {grant!r} não suportado: use password ou refresh_token.",
            "OAUTH2: unsupported_grant_type",
        )
    pair = tokens.issue(real_access_ttl_s=faults.access_ttl())
    return json_response(pair.as_body(), status=201)


def authenticate(request: web.Request) -> None:
    """Accept a valid unexpired Bearer token or the configured user's Basic credentials."""
    scheme, _, value = request.headers.get("Authorization", "").strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        state = get_tokens(request.app).access_state(value)
        if state == "valid":
            return
        if state == "expired":
            get_faults(request.app).counters["expired_token_rejections"] += 1
            raise _unauthorized("Token de acesso expirado.", "OAUTH2: access_token expirado")
        raise _unauthorized("Token de acesso inválido.", "OAUTH2: access_token desconhecido")
    if scheme.lower() == "basic" and value:
        try:
            user, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            sep = ""
        if sep and credentials_match(get_config(request.app), user, password):
            return
        raise _unauthorized("Usuário ou senha inválidos.", "BASIC: credenciais rejeitadas")
    raise _unauthorized(
        "Autenticação requerida: informe um token Bearer ou credenciais Basic.",
        "Cabeçalho Authorization ausente ou em formato desconhecido",
    )


def needs_authentication(path: str) -> bool:
    return (path.startswith("/rest/") and path != OAUTH2_PATH) or path.startswith("/_sim/")


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if needs_authentication(request.path):
        authenticate(request)
    return await handler(request)
