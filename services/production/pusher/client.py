"""Client of the Protheus AppServer REST API: OAuth2 (or Basic), the MATA681 appointment and
the MATA682 stop report.

Every call ends in one of four outcomes, because exactly-once delivery depends on telling
them apart: delivered (201), rejected (a 400 carrying the routine's message: final),
not sent (nothing reached the AppServer: safe to resend), unknown (the request may have
been processed: look for the marker in SH6 before resending).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from shared.json import dumps_bytes
from shared.redact import redact
from shared.settings import PusherSettings, Settings

log = logging.getLogger(__name__)

TOKEN_PATH = "/api/oauth2/v1/token"  # noqa: S105 - a URL path, not a secret
APPOINTMENT_PATH = "/ProductionAppointment/v1/mata681"
STOP_REPORT_PATH = "/api/pcp/v1/stopReports"


@dataclass(frozen=True)
class Outcome:
    """What became of one call (an appointment, a stop report)."""

    kind: str  # delivered, rejected, not_sent, unknown
    http_status: int | None = None
    message: str | None = None
    id_appointment: str | None = None


class AuthError(Exception):
    """The AppServer refused our credentials (not the appointment itself)."""


def fault_message(body: Any) -> str | None:
    """The human message of a SetRestFault body, or of an older {errorCode, errorMessage} one."""
    if not isinstance(body, dict):
        return None
    parts = [body.get("message") or body.get("errorMessage"), body.get("detailedMessage")]
    for detail in body.get("details") or []:
        if isinstance(detail, dict):
            parts.append(detail.get("message"))
    kept: list[str] = []
    for part in (str(p).strip() for p in parts if p):
        # MATA682 repeats its reason in detailedMessage and in each detail: say it once.
        if part and not any(part in earlier for earlier in kept):
            kept.append(part)
    return " ".join(kept) or None


class ProtheusClient:
    """One per pusher: keeps the OAuth2 token, refreshes it before it expires and once on a 401."""

    def __init__(
        self, session: aiohttp.ClientSession, settings: Settings, pusher: PusherSettings
    ) -> None:
        self.session = session
        self.base = settings.protheus_rest_url
        self.company = settings.protheus_company
        self.auth_mode = settings.protheus_auth
        self.user = settings.protheus_user
        self.password = settings.protheus_password
        self.pusher = pusher
        self._access: str | None = None
        self._refresh: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    # --- authentication -------------------------------------------------------------------

    async def _token_request(self, params: dict[str, str]) -> None:
        # Credentials travel in the query string, as the AppServer wants; never log the URL.
        timeout = aiohttp.ClientTimeout(total=self.pusher.timeout_s)
        async with self.session.post(
            f"{self.base}{TOKEN_PATH}", params=params, timeout=timeout
        ) as resp:
            text = await resp.text()
            if resp.status not in (200, 201):
                raise AuthError(f"token endpoint answered {resp.status}")
            try:
                body = await resp.json(content_type=None)
            except ValueError:
                # Some servers answer 202 with text meaning "password change required".
                raise AuthError(
                    f"token endpoint answered {resp.status} without JSON: {text[:80]}"
                ) from None
        if not isinstance(body, dict) or not body.get("access_token"):
            raise AuthError(f"token endpoint answered {resp.status} without access_token")
        self._access = body["access_token"]
        self._refresh = body.get("refresh_token")
        self._expires_at = time.monotonic() + float(body.get("expires_in") or 3600)

    async def _login(self) -> None:
        await self._token_request(
            {"grant_type": "password", "username": self.user, "password": self.password}
        )

    async def _renew(self) -> None:
        """Refresh with the refresh token; when that is refused, log in again."""
        if self._refresh:
            try:
                await self._token_request(
                    {"grant_type": "refresh_token", "refresh_token": self._refresh}
                )
                return
            except AuthError:
                log.info("refresh token refused; logging in again")
        await self._login()

    async def authorization(self, *, force_renew: bool = False) -> str:
        if self.auth_mode == "basic":
            raw = f"{self.user}:{self.password}".encode()
            return "Basic " + base64.b64encode(raw).decode()
        async with self._lock:
            stale = time.monotonic() >= self._expires_at - self.pusher.token_margin_s
            if self._access is None:
                await self._login()
            elif force_renew or stale:
                await self._renew()
            return f"Bearer {self._access}"

    # --- the documents --------------------------------------------------------------------

    async def post_appointment(self, payload: dict[str, Any], *, branch: str) -> Outcome:
        """POST one MATA681 appointment (201 with `idAppointment`); a 401 renews the token and
        tries once more."""
        return await self._post(APPOINTMENT_PATH, payload, branch=branch, ident="idAppointment")

    async def post_stop_report(self, payload: dict[str, Any], *, branch: str) -> Outcome:
        """POST one MATA682 stop report (201 with the record, `IntegrationReport` = H6_IDENT);
        outcomes as for appointments: a 400 with the routine's message is a rejection."""
        return await self._post(STOP_REPORT_PATH, payload, branch=branch, ident="IntegrationReport")

    async def _post(
        self, path: str, payload: dict[str, Any], *, branch: str, ident: str
    ) -> Outcome:
        body = dumps_bytes(payload)
        for renewed in (False, True):
            try:
                authorization = await self.authorization(force_renew=renewed)
            except (TimeoutError, AuthError, aiohttp.ClientError) as exc:
                # An aiohttp error quotes the token URL, whose query carries the password.
                return Outcome("not_sent", message=f"autenticação falhou: {redact(str(exc))}")
            outcome = await self._send(path, body, authorization, branch, ident)
            if outcome.http_status != 401 or self.auth_mode == "basic":
                return outcome
        return outcome

    async def _send(
        self, path: str, body: bytes, authorization: str, branch: str, ident: str
    ) -> Outcome:
        headers = {
            "Authorization": authorization,
            "Content-Type": "application/json",
            "tenantId": f"{self.company},{branch}",
        }
        timeout = aiohttp.ClientTimeout(total=self.pusher.timeout_s)
        try:
            async with self.session.post(
                f"{self.base}{path}", data=body, headers=headers, timeout=timeout
            ) as resp:
                status = resp.status
                try:
                    answer = await resp.json(content_type=None)
                except ValueError:
                    answer = None
        except aiohttp.ClientConnectorError as exc:
            # The connection was never made: nothing reached the AppServer.
            return Outcome("not_sent", message=f"conexão recusada: {redact(str(exc))}")
        except (TimeoutError, aiohttp.ClientError) as exc:
            # Sent, but the answer was lost (dropped connection, timeout): maybe written.
            return Outcome("unknown", message=f"resposta perdida: {type(exc).__name__}")
        message = fault_message(answer)
        if status in (200, 201) and isinstance(answer, dict) and answer.get(ident):
            return Outcome("delivered", status, id_appointment=str(answer[ident]).strip())
        if status == 400 and message:
            return Outcome("rejected", status, message=message)
        if status >= 500 or status in (200, 201):
            # A 5xx may come after the routine committed; a 201 without an id is no proof.
            return Outcome("unknown", status, message=message or f"HTTP {status}")
        return Outcome("not_sent", status, message=message or f"HTTP {status}")
