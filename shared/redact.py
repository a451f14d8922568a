"""Secrets out of logs, health answers and stored errors: DSNs, URLs with credentials."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

MASK = "***"

# ODBC: `PWD=secret;` or `PWD={se;cret}` where `}}` inside braces is a literal brace.
_ODBC_PASSWORD = re.compile(r"(?i)\b(pwd|password)(\s*=\s*)(\{(?:[^}]|\}\})*\}|[^;]*)")
# Query-string and keyword/value forms: `?password=x&`, `sslpassword=x`, libpq `password=x`.
_KEYWORD_PASSWORD = re.compile(
    r"(?i)(?<![A-Za-z0-9_])((?:ssl)?(?:password|passwd|pwd|token|access_token|refresh_token)"
    r"\s*=\s*)([^&;\s'\"]*)"
)
# Any URL's query string: the AppServer's token URL carries the user's password in it.
_URL_QUERY = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s'\"?#]*)\?[^\s'\"#]*")
# `scheme://user:password@host`
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s'\"/@:]*):[^\s'\"/@]*@")


def mask_dsn(dsn: str) -> str:
    """The DSN (PostgreSQL, MQTT or ODBC) with every password replaced, fit for logs."""
    if dsn.lower().startswith("odbc://"):
        return _ODBC_PASSWORD.sub(lambda m: f"{m[1]}{m[2]}{MASK}", dsn)
    parts = urlsplit(dsn)
    netloc = parts.netloc
    if parts.password is not None:
        userinfo, _, host = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{MASK}@{host}"
    query = _KEYWORD_PASSWORD.sub(lambda m: f"{m[1]}{MASK}", parts.query)
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def redact(text: str) -> str:
    """Free text (an exception's message) with credentials in URLs and key=value pairs hidden.

    Query strings are dropped whole: aiohttp's errors quote the request URL, and the OAuth2
    token URL carries the user and password there.
    """
    text = _URL_QUERY.sub(lambda m: f"{m[1]}?{MASK}", text)
    text = _URL_USERINFO.sub(lambda m: f"{m[1]}:{MASK}@", text)
    text = _ODBC_PASSWORD.sub(lambda m: f"{m[1]}{m[2]}{MASK}", text)
    return _KEYWORD_PASSWORD.sub(lambda m: f"{m[1]}{MASK}", text)
