"""The BI role's login: mes_bi (created by migration 0020 without login) gets the password
ANALYTICS_BI_PASSWORD at the service's start, or loses its login when the setting is unset."""

from __future__ import annotations

import logging

from shared.db.pools import Connection

log = logging.getLogger(__name__)

BI_ROLE = "mes_bi"

# The statement is built by the server (format's %L quotes the password as a literal):
# ALTER ROLE takes no bound parameters, and no password is ever spliced in Python.
LOGIN_STATEMENT = "SELECT format('ALTER ROLE %I LOGIN PASSWORD %L', $1::text, $2::text)"
NOLOGIN_STATEMENT = "SELECT format('ALTER ROLE %I NOLOGIN PASSWORD NULL', $1::text)"


async def set_bi_login(conn: Connection, password: str | None) -> bool:
    """Give mes_bi its login with `password`, or take it away (None); True when it logs in."""
    if password:
        statement = await conn.fetchval(LOGIN_STATEMENT, BI_ROLE, password)
    else:
        statement = await conn.fetchval(NOLOGIN_STATEMENT, BI_ROLE)
    await conn.execute(statement)
    return bool(password)
