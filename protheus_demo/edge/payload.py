"""Sparkplug B payloads as an edge node writes them: metrics to protobuf bytes (the generated
sparkplug_b_pb2 module, nothing else), and the few commands an edge node reads."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from google.protobuf.message import DecodeError

from services.telemetry.sparkplug.proto import sparkplug_b_pb2 as pb

# Sparkplug B datatype numbers (specification 3.0, section 6.4.16).
INT8, INT16, INT32, INT64 = 1, 2, 3, 4
UINT8, UINT16, UINT32, UINT64 = 5, 6, 7, 8
FLOAT, DOUBLE, BOOLEAN, STRING = 9, 10, 11, 12
DATETIME, TEXT, UUID = 13, 14, 15

# Signed integers travel in the unsigned fields as two's complement of their own width
# (as pysparkplug and Tahu's Python core write them): Int8 -1 is int_value 255.
_SIGNED_BITS = {INT8: 8, INT16: 16, INT32: 32, INT64: 64}
_UNSIGNED_BITS = {UINT8: 8, UINT16: 16, UINT32: 32, UINT64: 64}
_INT_FIELD = {INT8, INT16, INT32, UINT8, UINT16, UINT32}
_LONG_FIELD = {INT64, UINT64, DATETIME}
_STRING_FIELD = {STRING, TEXT, UUID}

Value = float | int | bool | str | None

REBIRTH = "Node Control/Rebirth"
BD_SEQ = "bdSeq"


@dataclass(frozen=True)
class SentMetric:
    """One metric as published: name and alias (None when not sent), datatype, the value,
    its timestamp (epoch ms)."""

    name: str
    alias: int | None
    datatype: int
    value: Value
    timestamp: int


def _wire_int(value: int, datatype: int) -> int:
    if datatype in _SIGNED_BITS:
        bits = _SIGNED_BITS[datatype]
        if not -(1 << (bits - 1)) <= value < 1 << (bits - 1):
            raise OverflowError(f"{value} does not fit Int{bits}")
        return value % (1 << bits)
    bits = _UNSIGNED_BITS.get(datatype, 64)
    if not 0 <= value < 1 << bits:
        raise OverflowError(f"{value} does not fit UInt{bits}")
    return value


def _fill(metric: pb.Payload.Metric, sent: SentMetric, *, names: bool, datatypes: bool) -> None:
    if names or sent.alias is None:
        metric.name = sent.name
    if sent.alias is not None:
        metric.alias = sent.alias
    if datatypes:
        metric.datatype = sent.datatype
    metric.timestamp = sent.timestamp
    value, datatype = sent.value, sent.datatype
    if value is None:
        metric.is_null = True
    elif datatype in _INT_FIELD:
        metric.int_value = _wire_int(int(value), datatype)
    elif datatype in _LONG_FIELD:
        metric.long_value = _wire_int(int(value), datatype)
    elif datatype == FLOAT:
        metric.float_value = float(value)
    elif datatype == DOUBLE:
        metric.double_value = float(value)
    elif datatype == BOOLEAN:
        metric.boolean_value = bool(value)
    elif datatype in _STRING_FIELD:
        metric.string_value = str(value)
    else:
        raise ValueError(f"datatype {datatype} is not written by the simulator")


def encode(
    metrics: Iterable[SentMetric],
    *,
    timestamp: int,
    seq: int | None,
    names: bool = True,
    datatypes: bool = True,
) -> bytes:
    """A Sparkplug B payload. Births carry names, aliases and datatypes (names=True,
    datatypes=True); data with aliases carries the alias alone (names=False,
    datatypes=False); a metric without an alias always carries its name."""
    payload = pb.Payload()
    payload.timestamp = timestamp
    if seq is not None:
        payload.seq = seq
    for sent in metrics:
        _fill(payload.metrics.add(), sent, names=names, datatypes=datatypes)
    return payload.SerializeToString()


def rebirth_requested(data: bytes) -> bool:
    """Whether an NCMD payload asks for a rebirth (Node Control/Rebirth = true)."""
    payload = pb.Payload()
    try:
        payload.ParseFromString(data)
    except DecodeError:
        return False
    return any(m.name == REBIRTH and m.boolean_value for m in payload.metrics)
