"""Sparkplug B payloads: decode the protobuf, read a metric's value(s) by its datatype.

Pure functions, no I/O. `decode` turns the bytes of a spBv1.0 message into the generated
`Payload`; `values` turns one metric into typed Python values by the datatype the host
knows for it (the metric's own, or its birth's for alias-only data), flattening a one-row
DataSet into `/<column>` and a Template instance into `/<member>` (recursively); `numeric`
says which of those values can become a telemetry sample. The host calls `values` for
every metric of every message, so the scalar path is one dict lookup and one field read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, Protocol

from google.protobuf.message import DecodeError

from services.telemetry.sparkplug.proto import sparkplug_b_pb2 as pb

__all__ = ["DATATYPES", "PayloadError", "Unstorable", "Value", "decode", "numeric", "values"]

Value = float | int | bool | str | None

# Sparkplug B 3.0 datatype numbering (specification 6.4.16; Tahu's DataType enum).
DATATYPES: Final[dict[int, str]] = {
    1: "Int8",
    2: "Int16",
    3: "Int32",
    4: "Int64",
    5: "UInt8",
    6: "UInt16",
    7: "UInt32",
    8: "UInt64",
    9: "Float",
    10: "Double",
    11: "Boolean",
    12: "String",
    13: "DateTime",
    14: "Text",
    15: "UUID",
    16: "DataSet",
    17: "Bytes",
    18: "File",
    19: "Template",
    20: "PropertySet",
    21: "PropertySetList",
    22: "Int8Array",
    23: "Int16Array",
    24: "Int32Array",
    25: "Int64Array",
    26: "UInt8Array",
    27: "UInt16Array",
    28: "UInt32Array",
    29: "UInt64Array",
    30: "FloatArray",
    31: "DoubleArray",
    32: "BooleanArray",
    33: "StringArray",
    34: "DateTimeArray",
}

_DATASET: Final = 16
_TEMPLATE: Final = 19


class PayloadError(ValueError):
    """The bytes are not a Sparkplug B payload (the message is a dead letter)."""


class Unstorable(ValueError):
    """One metric whose value cannot be stored; the message (pt-BR) says why."""


def decode(data: bytes) -> pb.Payload:
    """The Sparkplug B payload in `data`; PayloadError when it is not valid protobuf."""
    try:
        return pb.Payload.FromString(data)
    except DecodeError as exc:
        raise PayloadError("payload Sparkplug B inválido (protobuf)") from exc


class _Carrier(Protocol):
    """The value fields a Metric, a DataSet value and a Template parameter share."""

    @property
    def int_value(self) -> int: ...
    @property
    def long_value(self) -> int: ...
    @property
    def float_value(self) -> float: ...
    @property
    def double_value(self) -> float: ...
    @property
    def boolean_value(self) -> bool: ...
    @property
    def string_value(self) -> str: ...


# Integers travel in the unsigned fields: Int8..Int32 and UInt8..UInt32 in int_value,
# Int64, UInt64 and DateTime in long_value. A negative signed value is its two's
# complement; encoders disagree on the width (Tahu's Java sign-extends an Int8 to 32
# bits, pysparkplug writes 8), so the value is cut to the type's own width before the
# sign is read. `a or b` also accepts the other field (a oneof: the unset one reads 0),
# as some encoders put UInt32 in long_value.
def _int8(v: _Carrier) -> int:
    n = (v.int_value or v.long_value) & 0xFF
    return n - 0x100 if n & 0x80 else n


def _int16(v: _Carrier) -> int:
    n = (v.int_value or v.long_value) & 0xFFFF
    return n - 0x10000 if n & 0x8000 else n


def _int32(v: _Carrier) -> int:
    n = (v.int_value or v.long_value) & 0xFFFFFFFF
    return n - 0x100000000 if n & 0x80000000 else n


def _int64(v: _Carrier) -> int:
    n = (v.long_value or v.int_value) & 0xFFFFFFFFFFFFFFFF
    return n - 0x10000000000000000 if n & 0x8000000000000000 else n


def _uint8(v: _Carrier) -> int:
    return (v.int_value or v.long_value) & 0xFF


def _uint16(v: _Carrier) -> int:
    return (v.int_value or v.long_value) & 0xFFFF


def _uint32(v: _Carrier) -> int:
    return (v.int_value or v.long_value) & 0xFFFFFFFF


def _uint64(v: _Carrier) -> int:
    return v.long_value or v.int_value


def _float(v: _Carrier) -> float:
    return v.float_value or v.double_value


def _double(v: _Carrier) -> float:
    return v.double_value or v.float_value


def _boolean(v: _Carrier) -> bool:
    return v.boolean_value


def _string(v: _Carrier) -> str:
    return v.string_value


_SCALARS: Final[dict[int, Callable[[_Carrier], Value]]] = {
    1: _int8,
    2: _int16,
    3: _int32,
    4: _int64,
    5: _uint8,
    6: _uint16,
    7: _uint32,
    8: _uint64,
    9: _float,
    10: _double,
    11: _boolean,
    12: _string,
    13: _uint64,  # DateTime: epoch ms UTC
    14: _string,  # Text
    15: _string,  # UUID
}


def values(metric: pb.Payload.Metric, datatype: int) -> list[tuple[str, Value]]:
    """The metric's value(s) by `datatype`: `[("", v)]` for a scalar, `[("", None)]` for a
    null one (is_null, or no value field set: not the field's default 0),
    `[("/<column>", v), ...]` for a one-row DataSet (`[]` for one without rows),
    `[("/<member>[/<sub>...]", v), ...]` for a Template instance. Unstorable (pt-BR reason) for the kinds that are not
    stored: Bytes, File, PropertySet(List), arrays, a DataSet of more than one row, a
    Template definition, an unknown datatype."""
    if metric.is_null:
        return [("", None)]
    convert = _SCALARS.get(datatype)
    if convert is not None:
        if metric.WhichOneof("value") is None:
            return [("", None)]
        return [("", convert(metric))]
    if datatype == _DATASET:
        return _dataset(metric.dataset_value)
    if datatype == _TEMPLATE:
        found: list[tuple[str, Value]] = []
        _template(metric.template_value, "", found)
        return found
    raise Unstorable(_unstorable_reason(datatype))


def numeric(value: Value) -> float | None:
    """The value as a sample: float for int, float and bool (0/1); None for str and null."""
    if value is None or isinstance(value, str):
        return None
    return float(value)


def _unstorable_reason(datatype: int) -> str:
    name = DATATYPES.get(datatype)
    if name is None:
        return f"tipo de dado desconhecido ({datatype})"
    if datatype >= 22:
        return f"tipo {name} (array) não é armazenado"
    return f"tipo {name} não é armazenado"


def _dataset(dataset: pb.Payload.DataSet) -> list[tuple[str, Value]]:
    rows = dataset.rows
    if not rows:
        return []
    if len(rows) > 1:
        raise Unstorable(f"DataSet com {len(rows)} linhas não é armazenado (só com 1 linha)")
    columns, types, elements = dataset.columns, dataset.types, rows[0].elements
    if not (len(columns) == len(types) == len(elements)):
        raise Unstorable(
            f"DataSet malformado: {len(columns)} colunas, {len(types)} tipos, "
            f"{len(elements)} valores na linha"
        )
    found: list[tuple[str, Value]] = []
    for column, datatype, element in zip(columns, types, elements, strict=True):
        convert = _SCALARS.get(datatype)
        if convert is None:
            raise Unstorable(f"coluna {column!r} do DataSet: {_unstorable_reason(datatype)}")
        # A DataSet value has no is_null: an element with no value set is the null.
        value = None if element.WhichOneof("value") is None else convert(element)
        found.append(("/" + column, value))
    return found


def _template(template: pb.Payload.Template, prefix: str, found: list[tuple[str, Value]]) -> None:
    if template.is_definition:
        raise Unstorable("definição de Template (não é dado)")
    for member in template.metrics:
        name = member.name
        if not name:
            raise Unstorable(f"membro sem nome no Template{' ' + prefix if prefix else ''}")
        path = prefix + "/" + name
        datatype = member.datatype
        if member.is_null:
            found.append((path, None))
            continue
        convert = _SCALARS.get(datatype)
        if convert is not None:
            found.append((path, None if member.WhichOneof("value") is None else convert(member)))
        elif datatype == _TEMPLATE:
            _template(member.template_value, path, found)
        elif datatype == _DATASET:
            try:
                rows = _dataset(member.dataset_value)
            except Unstorable as exc:
                raise Unstorable(f"membro {path} do Template: {exc}") from None
            found.extend((path + column, value) for column, value in rows)
        else:
            raise Unstorable(f"membro {path} do Template: {_unstorable_reason(datatype)}")
