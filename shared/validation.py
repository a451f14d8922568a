"""Request validation on marshmallow: fields whose errors name a rule, loaders for query and body.

marshmallow keeps only message strings, so each message here carries its rule name in
front, split off again when the errors become `{field, rule, message}` details.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import marshmallow as ma
from aiohttp import web
from marshmallow import fields

from shared.errors import (
    Detail,
    InvalidBody,
    InvalidParameter,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from shared.json import loads

_SEPARATOR = "\x1f"


def tagged(rule: str, message: str) -> str:
    """A validation message that remembers which rule produced it."""
    return f"{rule}{_SEPARATOR}{message}"


def split_tag(message: str) -> tuple[str, str]:
    rule, sep, text = message.partition(_SEPARATOR)
    return (rule, text) if sep else ("invalid", message)


_COMMON = {
    "required": tagged("required", "é obrigatório."),
    "null": tagged("required", "não pode ser nulo."),
    "validator_failed": tagged("invalid", "valor inválido."),
}


class Schema(ma.Schema):
    """Query-string schema: unknown parameters are ignored, as HTTP clients expect."""

    class Meta:
        unknown = ma.EXCLUDE

    error_messages = {  # noqa: RUF012 - marshmallow reads this class attribute
        "unknown": tagged("unknown", "campo desconhecido."),
        "type": tagged("type", "deve ser um objeto JSON."),
    }


class BodySchema(Schema):
    """JSON body schema: an unknown field is an error (a typo must not be silently dropped)."""

    class Meta:
        unknown = ma.RAISE


class Integer(fields.Integer):
    default_error_messages = {  # noqa: RUF012
        **_COMMON,
        "invalid": tagged("type", "deve ser um número inteiro."),
        "too_large": tagged("range", "número grande demais."),
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=False, **kwargs)

    def _validated(self, value: Any) -> int:
        # "1.5" or True are not integers, even if int() would take them.
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise self.make_error("invalid")
        if isinstance(value, str) and not value.strip().lstrip("+-").isdigit():
            raise self.make_error("invalid")
        return super()._validated(value)


class Number(fields.Float):
    default_error_messages = {  # noqa: RUF012
        **_COMMON,
        "invalid": tagged("type", "deve ser um número."),
        "too_large": tagged("range", "número grande demais."),
        "special": tagged("type", "deve ser um número finito."),
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_nan=False, **kwargs)

    def _validated(self, value: Any) -> float:
        if isinstance(value, bool):
            raise self.make_error("invalid")
        return super()._validated(value)


class String(fields.String):
    """A string, stripped; an empty value counts as absent (`?branch=` means no branch)."""

    default_error_messages = {**_COMMON, "invalid": tagged("type", "deve ser um texto.")}  # noqa: RUF012

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        text = super()._deserialize(value, attr, data, **kwargs)
        text = text.strip()
        if not text and self.required:
            raise self.make_error("required")
        if any(ch < " " for ch in text):  # NUL and friends: no database column takes them
            raise ma.ValidationError(
                tagged("characters", "não pode conter caracteres de controle.")
            )
        return text or None


# Unicode categories refused in text written to Protheus: controls (Cc: C0, DEL, C1) and
# format characters (Cf: bidirectional overrides and isolates U+202A-202E, U+2066-2069, the
# marks U+200E/U+200F, zero-width characters, BOM). An override in H6_OPERADO shows another
# operator's name on every Protheus screen and report that prints it.
REFUSED_CATEGORIES = frozenset({"Cc", "Cf"})


def refused_character(text: str) -> str | None:
    """The first control or format character of a text, None when it has none."""
    for ch in text:
        if unicodedata.category(ch) in REFUSED_CATEGORIES:
            return ch
    return None


class ProtheusText(String):
    """A string that lands in a Protheus column: no control or format character either."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        text = super()._deserialize(value, attr, data, **kwargs)
        found = refused_character(text) if text else None
        if found is not None:
            raise ma.ValidationError(
                tagged(
                    "characters",
                    f"não pode conter caracteres de controle nem de formatação (encontrado "
                    f"U+{ord(found):04X}, {unicodedata.name(found, 'sem nome')}).",
                )
            )
        return text


class Boolean(fields.Boolean):
    truthy = {"true", "True", "TRUE", "1", "sim", True}  # noqa: RUF012
    falsy = {"false", "False", "FALSE", "0", "nao", "não", False}  # noqa: RUF012
    default_error_messages = {**_COMMON, "invalid": tagged("type", "deve ser true ou false.")}  # noqa: RUF012


class Date(fields.Date):
    """A calendar date written YYYY-MM-DD."""

    default_error_messages = {  # noqa: RUF012
        **_COMMON,
        "invalid": tagged("format", "deve ser uma data no formato YYYY-MM-DD."),
        "format": tagged("format", "deve ser uma data no formato YYYY-MM-DD."),
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%d", **kwargs)


class Timestamp(fields.AwareDateTime):
    """An ISO-8601 instant with its offset; a time without one is ambiguous and refused."""

    default_error_messages = {  # noqa: RUF012
        **_COMMON,
        "invalid": tagged(
            "format", "deve ser data e hora ISO-8601 com fuso (ex.: 2024-05-01T08:00:00-03:00)."
        ),
        "invalid_awareness": tagged("format", "deve informar o fuso horário (ex.: -03:00 ou Z)."),
        "format": tagged("format", "deve ser data e hora ISO-8601 com fuso."),
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="iso", **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dt.datetime:
        moment = super()._deserialize(value, attr, data, **kwargs)
        # Years the databases cannot hold, or no plant ever produced in, are input errors.
        if not 1970 <= moment.year <= 2999:
            raise ma.ValidationError(
                tagged("range", "data fora do intervalo aceito (1970 a 2999).")
            )
        return moment


def between(low: float, high: float) -> Callable[[Any], None]:
    """Validator: low <= value <= high."""

    def check(value: Any) -> None:
        if value < low or value > high:
            raise ma.ValidationError(tagged("range", f"deve estar entre {low} e {high}."))

    return check


def at_least(low: float) -> Callable[[Any], None]:
    """Validator: value >= low."""

    def check(value: Any) -> None:
        if value < low:
            raise ma.ValidationError(tagged("range", f"deve ser maior ou igual a {low}."))

    return check


def max_length(size: int) -> Callable[[Any], None]:
    """Validator: a string of at most `size` characters."""

    def check(value: Any) -> None:
        if value is not None and len(value) > size:
            raise ma.ValidationError(tagged("length", f"deve ter no máximo {size} caracteres."))

    return check


def one_of(choices: Iterable[str]) -> Callable[[Any], None]:
    """Validator: one of the listed values."""
    allowed = tuple(choices)

    def check(value: Any) -> None:
        if value not in allowed:
            raise ma.ValidationError(tagged("choice", f"deve ser um de: {', '.join(allowed)}."))

    return check


def date_range_error(field: str) -> ma.ValidationError:
    """Schema-level error for a range whose end comes before its start."""
    return ma.ValidationError(
        tagged("order", "a data final deve ser igual ou posterior à inicial."), field_name=field
    )


def error_details(messages: Any, prefix: str = "") -> list[Detail]:
    """Flatten marshmallow's nested error dict into `{field, rule, message}` details."""
    details: list[Detail] = []
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            name = str(key) if key != "_schema" else ""
            path = f"{prefix}.{name}" if prefix and name else (name or prefix)
            details.extend(error_details(value, path))
    elif isinstance(messages, list):
        for message in messages:
            details.extend(error_details(message, prefix))
    else:
        rule, text = split_tag(str(messages))
        details.append(Detail(prefix or "body", rule, text))
    return details


def _summary(details: list[Detail], noun: str) -> str:
    first = details[0]
    more = f" (e mais {len(details) - 1} erro(s))" if len(details) > 1 else ""
    return f"{noun} '{first.field}' inválido: {first.message}{more}"


def load_query(request: web.Request, schema: ma.Schema) -> dict[str, Any]:
    """Validate the query string; a bad value is a 400 naming the parameter and rule."""
    raw = {key: request.query.get(key) for key in request.query}
    try:
        return schema.load(raw)
    except ma.ValidationError as exc:
        details = error_details(exc.messages)
        raise InvalidParameter(_summary(details, "Parâmetro"), details=details) from None


def load_match(request: web.Request, schema: ma.Schema) -> dict[str, Any]:
    """Validate path parameters (`/products/{code}`), same rules as the query string."""
    try:
        return schema.load(dict(request.match_info))
    except ma.ValidationError as exc:
        details = error_details(exc.messages)
        raise InvalidParameter(_summary(details, "Parâmetro"), details=details) from None


async def read_json(request: web.Request) -> Any:
    """The parsed JSON body: 415 for another content type, 413 too big, 400 unparsable."""
    if request.content_type != "application/json":
        raise UnsupportedMediaType()
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise PayloadTooLarge() from None
    try:
        return loads(raw)
    except ValueError:
        detail = Detail("body", "json", "o corpo não é um JSON válido.")
        raise InvalidBody("O corpo da requisição não é um JSON válido.", details=[detail]) from None


async def load_body(
    request: web.Request, schema: ma.Schema, *, partial: bool = False
) -> dict[str, Any]:
    """Read and validate a JSON object body; each bad field becomes one detail."""
    payload = await read_json(request)
    if not isinstance(payload, dict):
        detail = Detail("body", "type", "o corpo deve ser um objeto JSON.")
        raise InvalidBody("O corpo da requisição deve ser um objeto JSON.", details=[detail])
    try:
        return schema.load(payload, partial=partial)
    except ma.ValidationError as exc:
        raise invalid_body(exc) from None


def invalid_body(exc: ma.ValidationError) -> InvalidBody:
    """A body's validation errors as a 400 with one detail per field."""
    messages = exc.messages
    if not isinstance(messages, dict) and exc.field_name and exc.field_name != "_schema":
        messages = {exc.field_name: messages}  # raised outside a schema: the field rides apart
    details = error_details(messages)
    return InvalidBody(_summary(details, "Campo"), details=details)


def iso_date(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None
