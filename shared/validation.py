"""Request validation on marshmallow: fields whose errors name a rule, loaders for query and body.

marshmallow keeps only message strings, so each message here carries its rule name in
front, split off again when the errors become `{field, rule, message}` details.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import sys
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import marshmallow as ma
from aiohttp import web
from marshmallow import fields, validate

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


@dataclass(frozen=True)
class Refusal:
    """A 400 that a request valid by its schema may still get, named by `error.details`:
    a rule across fields (`to` after `from`) or one the ERP's dictionary decides (a
    branch's length). JSON Schema cannot say it; the OpenAPI document lists it."""

    field: str
    rule: str
    description: str


class Schema(ma.Schema):
    """Query-string schema: unknown parameters are ignored, as HTTP clients expect.

    `refusals`: the rules beyond the fields' own (each subclass lists its own; the OpenAPI
    document of a route gathers those of its schemas and of their bases).
    """

    refusals: ClassVar[tuple[Refusal, ...]] = ()

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


def char_class(chars: Iterable[str]) -> str:
    """The inside of a regex character class holding exactly `chars`, for Python and ECMA-262.

    Ranges of the Basic Multilingual Plane are written as \\uXXXX escapes; characters above it
    (a few format characters) as themselves, which both read alike (ECMA-262 with the `u`
    flag, as JSON Schema validators run it).
    """

    def write(point: int) -> str:
        return f"\\u{point:04X}" if point <= 0xFFFF else chr(point)

    points = sorted({ord(ch) for ch in chars})
    parts: list[str] = []
    start = 0
    while start < len(points):
        end = start
        while end + 1 < len(points) and points[end + 1] == points[end] + 1:
            end += 1
        low, high = points[start], points[end]
        parts.append(write(low) if low == high else f"{write(low)}-{write(high)}")
        start = end + 1
    return "".join(parts)


# Characters below U+0020: no database column takes them.
CONTROLS = "".join(map(chr, range(0x20)))


@functools.cache
def _characters(categories: frozenset[str] | None = None) -> str:
    """CONTROLS, or the characters of the given Unicode categories."""
    if categories is None:
        return CONTROLS
    return "".join(
        ch for ch in map(chr, range(sys.maxunicode + 1)) if unicodedata.category(ch) in categories
    )


# What str.strip() removes: a parameter is read without it.
SPACES = "".join(ch for ch in map(chr, range(0x10000)) if ch.isspace())


class String(fields.String):
    """A string, stripped; an empty value counts as absent (`?branch=` means no branch)."""

    # False: a value sent blank is refused (as a required one), not taken as absent.
    blank_is_absent = True
    default_error_messages = {**_COMMON, "invalid": tagged("type", "deve ser um texto.")}  # noqa: RUF012

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        text = super()._deserialize(value, attr, data, **kwargs)
        text = text.strip()
        if not text and self.required:
            raise self.make_error("required")
        if not text and not self.blank_is_absent:
            raise ma.ValidationError(tagged("length", "não pode ser vazio."))
        if any(ch < " " for ch in text):  # NUL and friends: no database column takes them
            raise ma.ValidationError(
                tagged("characters", "não pode conter caracteres de controle.")
            )
        return text or None

    def refused(self) -> str:
        """The characters refused inside the stripped value."""
        return _characters()

    def openapi_properties(self) -> dict[str, Any]:
        """What the value accepts beyond its type, as one JSON Schema pattern: blanks around
        it are ignored and an all-blank value is absent (a required one needs a non-blank
        character); inside, no refused character; at most MaxLength's characters (counted
        without the blanks, so not maxLength); a Matches validator's pattern."""
        spaces = f"[{char_class(SPACES)}]*"
        matches = [v for v in self.validators if isinstance(v, Matches)]
        if matches:
            core = f"(?:{matches[0].compiled.pattern[1:-1]})"
        else:
            refused, edge = char_class(self.refused()), char_class(SPACES + self.refused())
            # First and last characters apart: the inside has at most size - 2 (size >= 2).
            sizes = [v.size for v in self.validators if isinstance(v, MaxLength)]
            inside = f"{{0,{min(sizes) - 2}}}" if sizes else "*"
            core = f"[^{edge}](?:[^{refused}]{inside}[^{edge}])?"
        nonblank = self.required or not self.blank_is_absent
        properties: dict[str, Any] = {
            "pattern": f"^{spaces}{core}{spaces}$" if nonblank else f"^{spaces}(?:{core})?{spaces}$"
        }
        if nonblank:
            properties["minLength"] = 1
        return properties


class Token(String):
    """A header's value (`Idempotency-Key`): optional; when sent, 1 to `size` printable ASCII
    characters (what an HTTP header carries as is), not blank. HTTP drops the blanks around."""

    blank_is_absent = False

    def __init__(self, *, size: int, **kwargs: Any) -> None:
        pattern = re.compile(f"^[\\x21-\\x7e](?:[\\x20-\\x7e]{{0,{size - 2}}}[\\x21-\\x7e])?$")
        rule = matches(pattern, "length", f"deve ter de 1 a {size} caracteres ASCII visíveis.")
        super().__init__(validate=rule, **kwargs)
        self.rule = rule

    def openapi_properties(self) -> dict[str, Any]:
        return {"pattern": self.rule.compiled.pattern, "minLength": 1}


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

    def refused(self) -> str:
        return _characters() + _characters(REFUSED_CATEGORIES)

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

    def openapi_properties(self) -> dict[str, Any]:
        return {"pattern": YEAR_PATTERN}


# Timestamp's years, 1970 to 2999, as the start of a pattern.
YEAR_PATTERN = "^(?:19[7-9][0-9]|2[0-9]{3})-"


# --- a `from`/`to` window (stops, Pareto, telemetry series and OEE, audit) -------------------

WINDOW_ORDER = Refusal("to", "order", "to deve ser posterior a from.")


def window_from(description: str, *, required: bool = False) -> Timestamp:
    """The `from` of a window: a Python keyword, so the loaded attribute is `from_`."""
    if required:
        return Timestamp(required=True, data_key="from", metadata={"description": description})
    return Timestamp(load_default=None, data_key="from", metadata={"description": description})


def check_window_order(data: Mapping[str, Any]) -> None:
    """Refuse a window whose `to` is not after its `from`, when both are given (a schema's
    validator calls it; its refusal is WINDOW_ORDER)."""
    start, end = data.get("from_"), data.get("to")
    if start is not None and end is not None and end <= start:
        raise ma.ValidationError(tagged("order", "deve ser posterior a `from`."), field_name="to")


class Between(validate.Range):
    """low <= value <= high (either bound optional); OpenAPI documents it as minimum/maximum."""

    def __init__(self, low: float | None, high: float | None = None) -> None:
        super().__init__(min=low, max=high)

    def __call__(self, value: Any) -> Any:
        low, high = self.min, self.max
        if (low is not None and value < low) or (high is not None and value > high):
            text = (
                f"deve estar entre {low} e {high}."
                if high is not None
                else f"deve ser maior ou igual a {low}."
            )
            raise ma.ValidationError(tagged("range", text))
        return value


def between(low: float, high: float) -> Between:
    """Validator: low <= value <= high."""
    return Between(low, high)


def at_least(low: float) -> Between:
    """Validator: value >= low."""
    return Between(low)


class MaxLength:
    """A string of at most `size` characters, counted after stripping (an absent value passes).

    Not a marshmallow Length on purpose: OpenAPI's maxLength counts the raw value, blanks
    around it included, which the server ignores; String documents the bound in its pattern.
    """

    def __init__(self, size: int) -> None:
        if size < 2:
            raise ValueError("a length bound below 2 is a pattern, not a MaxLength")
        self.size = size

    def __call__(self, value: Any) -> Any:
        if value is not None and len(value) > self.size:
            raise ma.ValidationError(
                tagged("length", f"deve ter no máximo {self.size} caracteres.")
            )
        return value


def max_length(size: int) -> MaxLength:
    """Validator: a string of at most `size` characters."""
    return MaxLength(size)


class OneOf(validate.OneOf):
    """One of the listed values; OpenAPI documents them as `enum`.

    `optional`: an empty parameter (`?bucket=`, loaded as None) counts as absent and passes.
    """

    def __init__(self, choices: Iterable[str], *, optional: bool = False) -> None:
        super().__init__(tuple(choices))
        self.optional = optional

    def __call__(self, value: Any) -> Any:
        if value is None and self.optional:
            return value
        if value not in self.choices:
            raise ma.ValidationError(
                tagged("choice", f"deve ser um de: {', '.join(map(str, self.choices))}.")
            )
        return value


def one_of(choices: Iterable[str], *, optional: bool = False) -> OneOf:
    """Validator: one of the listed values."""
    return OneOf(choices, optional=optional)


class Matches:
    """A value the pattern matches (an absent value passes); String documents the pattern.

    The pattern is anchored (^...$) and written in the syntax Python and ECMA-262 (JSON
    Schema) read alike: classes of literal characters or \\uXXXX escapes, groups, bounded
    repeats. It must refuse blanks and control characters itself.
    """

    def __init__(self, pattern: re.Pattern[str], rule: str, message: str) -> None:
        if not (pattern.pattern.startswith("^") and pattern.pattern.endswith("$")):
            raise ValueError(f"pattern must be anchored: {pattern.pattern}")
        self.compiled = pattern
        self.tagged_message = tagged(rule, message)

    def __call__(self, value: Any) -> Any:
        if value is not None and not self.compiled.match(value):
            raise ma.ValidationError(self.tagged_message)
        return value


def matches(pattern: re.Pattern[str], rule: str, message: str) -> Matches:
    """Validator: the value matches `pattern`, else the error names `rule`."""
    return Matches(pattern, rule, message)


def refusals_of(schema: type[ma.Schema]) -> list[Refusal]:
    """The refusals a schema and its bases declare, bases first, each once."""
    found: dict[Refusal, None] = {}
    for cls in reversed(schema.__mro__):
        found.update(dict.fromkeys(vars(cls).get("refusals", ())))
    return list(found)


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
        loaded: dict[str, Any] = schema.load(raw)
        return loaded
    except ma.ValidationError as exc:
        details = error_details(exc.messages)
        raise InvalidParameter(_summary(details, "Parâmetro"), details=details) from None


def load_headers(request: web.Request, schema: ma.Schema) -> dict[str, Any]:
    """Validate the request headers the schema declares (by their `data_key`, any case);
    the others are not its business. A bad value is a 400 naming the header."""
    raw = {}
    for name, field in schema.fields.items():
        header = field.data_key or name
        if header in request.headers:
            raw[header] = request.headers[header]
    try:
        loaded: dict[str, Any] = schema.load(raw)
        return loaded
    except ma.ValidationError as exc:
        details = error_details(exc.messages)
        raise InvalidParameter(_summary(details, "Cabeçalho"), details=details) from None


def load_match(request: web.Request, schema: ma.Schema) -> dict[str, Any]:
    """Validate path parameters (`/products/{code}`), same rules as the query string."""
    try:
        loaded: dict[str, Any] = schema.load(dict(request.match_info))
        return loaded
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
        loaded: dict[str, Any] = schema.load(payload, partial=partial)
        return loaded
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
