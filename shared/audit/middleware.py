"""The audit middleware: one row per authenticated request, handed to the writer's buffer.

"Authenticated" means a configured key was presented: a 403 (valid key, missing scope) is
recorded, a 401 (no key or an unknown one) is not — it has no identity to audit, and
recording it would let anyone flood the table and push real rows out of the bounded buffer
(401s are in the access log and in http_requests_total).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Final

from aiohttp import web
from aiohttp.typedefs import Handler

from shared.audit.writer import AuditRow, AuditWriter
from shared.db.pools import Connection
from shared.endpoint import endpoint_of
from shared.keys import CALLER, REQUEST_ID

AUDIT: Final = web.AppKey("audit_writer", AuditWriter)
AUDITED: Final = web.RequestKey("audited", bool)
ARRIVED: Final = web.RequestKey("audit_arrived", float)


def route_name(request: web.Request) -> str:
    route = request.match_info.route
    if route.name:
        return route.name
    resource = route.resource
    return resource.canonical if resource is not None else "unmatched"


def audit_row(
    request: web.Request, writer: AuditWriter, status: int, *, subject: str | None = None
) -> AuditRow | None:
    """The request's audit row, or None when no key authenticated it."""
    key = request.get(CALLER)
    if key is None:
        return None
    arrived = request.get(ARRIVED, time.time())
    spec = endpoint_of(request.match_info.handler)
    peer = request.remote
    return AuditRow(
        at=dt.datetime.fromtimestamp(arrived, dt.UTC),
        request_id=request.get(REQUEST_ID, ""),
        key_name=key.name,
        method=request.method,
        route=route_name(request),
        path=request.path[:500],
        status=status,
        client=writer.client_of(peer, request.headers.get("X-Real-IP")),
        peer=peer,
        duration_ms=round((time.time() - arrived) * 1000, 3),
        subject=subject,
        service=spec.service if spec else "",
    )


@web.middleware
async def audit_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Sits outside the error middleware, so it sees the status the client gets."""
    writer = request.app.get(AUDIT)
    if writer is None:
        return await handler(request)
    request[ARRIVED] = time.time()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        if not request.get(AUDITED):
            row = audit_row(request, writer, status)
            if row is not None:
                writer.record(row)


@dataclass
class InTransaction:
    """A write's audit row, inserted in the write's own transaction.

    The service calls `write(conn, subject)` inside its transaction and `committed()` after
    it; only then does the middleware skip the request (a rolled-back write is recorded by
    the middleware with the status the client got, once)."""

    request: web.Request
    writer: AuditWriter
    status: int
    _pending: bool = field(default=False, init=False)

    async def write(self, conn: Connection, subject: str | None) -> None:
        row = audit_row(self.request, self.writer, self.status, subject=subject)
        if row is not None:
            await self.writer.insert(conn, row)
            self._pending = True

    def committed(self) -> None:
        if self._pending:
            self.request[AUDITED] = True

    def rolled_back(self) -> None:
        self._pending = False


def in_transaction(request: web.Request, status: int) -> InTransaction | None:
    """The audit hook a write handler passes to its service (None when the audit is off)."""
    writer = request.app.get(AUDIT)
    return InTransaction(request, writer, status) if writer is not None else None
