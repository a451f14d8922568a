"""Route metadata in one place: the scope auth enforces, the schemas that load the request and
the schema that dumps the answer; OpenAPI documents the same declaration.

    @endpoint(service="production", scope="admin", summary="...",
              query=schemas.AuditQuery, response=schemas.AuditResponse)
    async def list_audit(request: web.Request, *, query: dict[str, Any]) -> Reply:
        ...
        return Reply(data, "Registros de auditoria retornados.")

The wrapper loads what the handler takes (path, query, headers, then body, with the loaders of
shared.validation: same 400s, same details), passes each as a keyword argument (and `page=`,
the requested Page, to a list handler whose query schema is a PageQuery), and dumps a
returned `Reply` through the declared response schema into the envelope. A route declaring
`csv=Csv(...)` (shared.csv_export) also answers `format=csv`/`excel` or `Accept: text/csv`
with the rows of the same dumped answer, streamed (a paged route: every page). A handler
that does not take `query=` (say) is not converted yet: its declared query schema is only
documented. A handler that returns a ready web.StreamResponse gets it sent untouched.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import marshmallow as ma
from aiohttp import web

from shared.csv_export import Csv, Dialect, chosen_dialect, header_of, row_schema, stream_csv
from shared.envelope import Reply, json_response
from shared.pagination import MAX_PAGE_SIZE, Page, PageQuery
from shared.validation import load_body, load_headers, load_match, load_query

# What a decorated function may be: it takes the request and the loaded parts it declares.
Handler = Callable[..., Awaitable[web.StreamResponse | Reply]]
# What aiohttp routes: the request in, a response out.
RouteHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# In this order: a bad header is refused before the body is read (never a 413/415 first).
LOADED = ("path", "query", "headers", "body")
ENVELOPE_FIELDS = ("success", "message", "data")


@dataclass(frozen=True)
class Endpoint:
    """What a route needs (scope) and takes (path, query, body schemas) and answers."""

    service: str
    scope: str
    summary: str
    description: str = ""
    path: type[ma.Schema] | None = None
    query: type[ma.Schema] | None = None
    headers: type[ma.Schema] | None = None
    body: type[ma.Schema] | None = None
    response: type[ma.Schema] | None = None
    status: int = 200
    errors: tuple[int, ...] = (400, 401, 403, 503)
    extra: dict[str, Any] = field(default_factory=dict)
    # A PATCH body: only the fields sent are loaded (marshmallow's partial load).
    partial: bool = False
    # The route also answers CSV (its query schema includes shared.csv_export.FormatQuery).
    csv: Csv | None = None


def endpoint(**spec: Any) -> Callable[[Handler], RouteHandler]:
    """Decorate a handler with its Endpoint; routes without one need the admin scope."""
    info = Endpoint(**spec)
    if info.response is not None:
        declared = info.response().fields
        missing = [name for name in ENVELOPE_FIELDS if name not in declared]
        if missing:
            raise TypeError(
                f"{info.response.__name__} is not an envelope (no {', '.join(missing)}): "
                "build it with shared.envelope.envelope() or paged_envelope()"
            )

    def attach(handler: Handler) -> RouteHandler:
        takes = _loaded_parameters(handler)
        for name in takes:
            if name in LOADED and getattr(info, name) is None:
                raise TypeError(f"{handler.__qualname__} takes {name}= but declares no {name}")
        paged = "page" in takes
        if paged and not (isinstance(info.query, type) and issubclass(info.query, PageQuery)):
            raise TypeError(f"{handler.__qualname__} takes page= but its query is no PageQuery")
        path = info.path() if "path" in takes and info.path is not None else None
        query = info.query() if ("query" in takes or paged) and info.query is not None else None
        headers = info.headers() if "headers" in takes and info.headers is not None else None
        body = info.body() if "body" in takes and info.body is not None else None
        response = info.response() if info.response is not None else None
        csv_columns = _csv_columns(handler, info, query, response)

        @functools.wraps(handler)
        async def route(request: web.Request) -> web.StreamResponse:
            loaded: dict[str, Any] = {}
            params: dict[str, Any] = {}
            if path is not None:
                loaded["path"] = load_match(request, path)
            if query is not None:
                params = load_query(request, query)
                if paged:
                    loaded["page"] = Page.from_params(params)
                if "query" in takes:
                    loaded["query"] = params
            if headers is not None:
                loaded["headers"] = load_headers(request, headers)
            if body is not None:
                loaded["body"] = await load_body(request, body, partial=info.partial)
            dialect = (
                chosen_dialect(request, params.get("format")) if info.csv is not None else None
            )
            if dialect is not None:
                assert info.csv is not None
                if paged:
                    loaded["page"] = Page(number=1, size=MAX_PAGE_SIZE)
                named = {**loaded.get("path", {}), **params}
                return await _answer_csv(
                    request, handler, loaded, named, info.csv, dialect, response, csv_columns
                )
            answer = await handler(request, **loaded)
            if isinstance(answer, web.StreamResponse):
                return answer  # a route not converted yet, or one that answers in its own way
            return answer_with(answer, response, info.status)

        route.__endpoint__ = info  # type: ignore[attr-defined]
        return route

    return attach


def dumped(answer: Reply, response: ma.Schema | None) -> dict[str, Any]:
    """The envelope of a Reply, dumped by the response schema that documents it."""
    body: dict[str, Any] = {"success": True, "message": answer.message, "data": answer.data}
    if response is not None:
        body = response.dump(body)
    return body


def answer_with(answer: Reply, response: ma.Schema | None, status: int) -> web.Response:
    """The envelope of a Reply as the JSON response."""
    body = dumped(answer, response)
    return json_response(
        body, status=answer.status if answer.status is not None else status, headers=answer.headers
    )


def _csv_columns(
    handler: Handler, info: Endpoint, query: ma.Schema | None, response: ma.Schema | None
) -> list[str] | None:
    """The fixed CSV columns of a route declaring `csv=` (None when they come from the answer),
    after checking the declaration can work."""
    if info.csv is None:
        return None
    where = handler.__qualname__
    if query is None or "format" not in query.fields:
        raise TypeError(f"{where} declares csv= but loads no query with `format` (FormatQuery)")
    if info.csv.columns is not None:
        return None
    if info.csv.item is not None:
        return header_of(info.csv.item())
    item = (
        row_schema(response, info.csv.rows) if response and isinstance(info.csv.rows, str) else None
    )
    if item is None:
        raise TypeError(
            f"{where} declares csv= but its response has no data.<rows> list: give item="
        )
    return header_of(item)


async def _answer_csv(
    request: web.Request,
    handler: Handler,
    loaded: dict[str, Any],
    named: Mapping[str, Any],
    declared: Csv,
    dialect: Dialect,
    response: ma.Schema | None,
    columns: list[str] | None,
) -> web.StreamResponse:
    """The route's answer as CSV (`named`: the loaded path and query, for the file name): the
    first answer is computed before anything is sent (its errors stay JSON envelopes); a paged
    route's further pages are fetched as they are written."""
    first = await handler(request, **loaded)
    if not isinstance(first, Reply):
        raise TypeError(f"{handler.__qualname__} declares csv= but does not return a Reply")
    data = dumped(first, response)["data"]

    async def later_pages() -> AsyncIterator[Iterable[Mapping[str, Any]]]:
        page: Page = loaded["page"]
        for number in range(2, page.total_pages(int(data["total"])) + 1):
            answer = await handler(request, **{**loaded, "page": Page(number, page.size)})
            assert isinstance(answer, Reply)
            yield declared.rows_of(dumped(answer, response)["data"])

    if columns is None:
        assert declared.columns is not None  # else _csv_columns fixed them
        columns = list(declared.columns(data))
    return await stream_csv(
        request,
        dialect=dialect,
        columns=columns,
        file_name=declared.file_name(named),
        first=declared.rows_of(data),
        more=later_pages() if "page" in loaded else None,
    )


def _loaded_parameters(handler: Handler) -> tuple[str, ...]:
    """Which of path/query/headers/body/page the handler takes as keyword arguments."""
    parameters = inspect.signature(handler).parameters
    return tuple(
        name
        for name in (*LOADED, "page")
        if name in parameters
        and parameters[name].kind
        in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    )


def endpoint_of(handler: Any) -> Endpoint | None:
    return getattr(handler, "__endpoint__", None)
