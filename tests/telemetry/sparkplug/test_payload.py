"""Sparkplug B payload decoding: every scalar datatype through the wire, null, DataSet and
Template flattening, the unstorable kinds and garbage bytes."""

from __future__ import annotations

import math
import struct

import pytest

from services.telemetry.sparkplug.payload import (
    DATATYPES,
    PayloadError,
    Unstorable,
    decode,
    numeric,
    values,
)
from services.telemetry.sparkplug.proto import sparkplug_b_pb2 as pb

Metric = pb.Payload.Metric


def through_wire(*metrics: Metric) -> pb.Payload:
    """The metrics encoded in a payload and decoded back, as the host receives them."""
    payload = pb.Payload(timestamp=1_700_000_000_000, seq=7, metrics=list(metrics))
    return decode(payload.SerializeToString())


def test_datatypes_follow_the_specification_numbering():
    assert DATATYPES[1] == "Int8"
    assert DATATYPES[8] == "UInt64"
    assert DATATYPES[13] == "DateTime"
    assert DATATYPES[15] == "UUID"
    assert DATATYPES[16] == "DataSet"
    assert DATATYPES[19] == "Template"
    assert DATATYPES[34] == "DateTimeArray"
    assert 0 not in DATATYPES


@pytest.mark.parametrize(
    ("datatype", "field", "wire", "expected"),
    [
        # Signed ints: the two's complement of the type's width (pysparkplug's encoding)...
        (1, "int_value", 0x80, -128),
        (1, "int_value", 0xFF, -1),
        (1, "int_value", 127, 127),
        (2, "int_value", 0x8000, -32768),
        (2, "int_value", 0xFFFE, -2),
        (2, "int_value", 32767, 32767),
        (3, "int_value", 0x80000000, -(2**31)),
        (3, "int_value", 0xFFFFFFFF, -1),
        (3, "int_value", 2**31 - 1, 2**31 - 1),
        (4, "long_value", 2**63, -(2**63)),
        (4, "long_value", 2**64 - 5, -5),
        (4, "long_value", 2**63 - 1, 2**63 - 1),
        # ...or sign-extended to 32 bits (Tahu's Java writes an int into the uint32 field).
        (1, "int_value", 0xFFFFFF85, -123),
        (2, "int_value", 0xFFFF8001, -32767),
        (5, "int_value", 255, 255),
        (6, "int_value", 65535, 65535),
        (7, "int_value", 2**32 - 1, 2**32 - 1),
        # UInt32 in long_value: Tahu's Java keeps a UInt32 as a long.
        (7, "long_value", 4_000_000_000, 4_000_000_000),
        (8, "long_value", 2**64 - 1, 2**64 - 1),
        (8, "long_value", 2**63 + 12345, 2**63 + 12345),
        (13, "long_value", 1_700_000_123_456, 1_700_000_123_456),
        (10, "double_value", -2.718281828459045, -2.718281828459045),
        (10, "double_value", 1e300, 1e300),
        (11, "boolean_value", True, True),
        (11, "boolean_value", False, False),
        (12, "string_value", "running", "running"),
        (14, "string_value", "texto longo com acentuação", "texto longo com acentuação"),
        (15, "string_value", "a2c5f1e0-7f3b-4b7a-9a51-0c1d2e3f4a5b", "a2c5f1e0-7f3b-4b7a-9a51-0c1d2e3f4a5b"),
    ],
)  # fmt: skip
def test_scalar_values_by_datatype(datatype, field, wire, expected):
    metric = Metric(name="m", alias=3, datatype=datatype, **{field: wire})
    (received,) = through_wire(metric).metrics
    found = values(received, datatype)
    assert found == [("", expected)]
    assert type(found[0][1]) is type(expected)


def test_float_is_the_32_bit_value():
    (received,) = through_wire(Metric(name="t", datatype=9, float_value=21.5)).metrics
    assert values(received, 9) == [("", 21.5)]
    (received,) = through_wire(Metric(name="t", datatype=9, float_value=0.1)).metrics
    ((_, value),) = values(received, 9)
    assert value == struct.unpack("<f", struct.pack("<f", 0.1))[0]


def test_datatype_comes_from_the_caller_for_alias_only_data():
    # DDATA carries the alias and the value only; the birth said Int16.
    (received,) = through_wire(Metric(alias=9, int_value=0xFFF6)).metrics
    assert received.datatype == 0
    assert values(received, 2) == [("", -10)]


def test_zero_values_survive_the_wire():
    for datatype, field in [(3, "int_value"), (4, "long_value"), (10, "double_value")]:
        (received,) = through_wire(Metric(name="z", datatype=datatype, **{field: 0})).metrics
        assert values(received, datatype) == [("", 0)]
    (received,) = through_wire(Metric(name="e", datatype=12, string_value="")).metrics
    assert values(received, 12) == [("", "")]


@pytest.mark.parametrize("datatype", [3, 9, 11, 12, 16, 17, 19])
def test_is_null_gives_none(datatype):
    (received,) = through_wire(Metric(name="n", datatype=datatype, is_null=True)).metrics
    assert values(received, datatype) == [("", None)]


@pytest.mark.parametrize("datatype", [3, 4, 8, 9, 10, 11, 12, 13])
def test_a_metric_without_a_value_is_null_not_zero(datatype):
    # No value field and no is_null: not the protobuf default (0, false, "").
    (received,) = through_wire(Metric(name="n", datatype=datatype)).metrics
    assert values(received, datatype) == [("", None)]
    member = Metric(name="m", datatype=datatype)
    (received,) = through_wire(
        Metric(name="t", datatype=19, template_value=pb.Payload.Template(metrics=[member]))
    ).metrics
    assert values(received, 19) == [("/m", None)]


def dataset(rows: list[list[pb.Payload.DataSet.DataSetValue]]) -> pb.Payload.DataSet:
    DataSet = pb.Payload.DataSet
    return DataSet(
        num_of_columns=4,
        columns=["Temp", "Count", "Ok", "Offset"],
        types=[10, 7, 11, 3],
        rows=[DataSet.Row(elements=row) for row in rows],
    )


def row(temp: float, count: int, ok: bool, offset: int) -> list[pb.Payload.DataSet.DataSetValue]:
    Value = pb.Payload.DataSet.DataSetValue
    return [
        Value(double_value=temp),
        Value(int_value=count),
        Value(boolean_value=ok),
        Value(int_value=offset & 0xFFFFFFFF),
    ]


def test_dataset_with_one_row_is_flattened_by_column_types():
    metric = Metric(
        name="Line/Stats", datatype=16, dataset_value=dataset([row(71.5, 42, True, -3)])
    )
    (received,) = through_wire(metric).metrics
    assert values(received, 16) == [
        ("/Temp", 71.5),
        ("/Count", 42),
        ("/Ok", True),
        ("/Offset", -3),
    ]


def test_dataset_element_without_value_is_null():
    elements = row(1.0, 2, False, 4)
    elements[1] = pb.Payload.DataSet.DataSetValue()
    (received,) = through_wire(
        Metric(name="d", datatype=16, dataset_value=dataset([elements]))
    ).metrics
    assert values(received, 16)[1] == ("/Count", None)


def test_dataset_with_many_rows_is_unstorable():
    metric = Metric(
        name="d", datatype=16, dataset_value=dataset([row(1, 2, True, 3), row(4, 5, False, 6)])
    )
    (received,) = through_wire(metric).metrics
    with pytest.raises(Unstorable, match="DataSet com 2 linhas"):
        values(received, 16)


def test_dataset_without_rows_has_no_values():
    (received,) = through_wire(Metric(name="d", datatype=16, dataset_value=dataset([]))).metrics
    assert values(received, 16) == []


def test_dataset_column_of_an_unstorable_type_is_unstorable():
    DataSet = pb.Payload.DataSet
    value = DataSet(
        num_of_columns=1, columns=["Blob"], types=[17],
        rows=[DataSet.Row(elements=[DataSet.DataSetValue(string_value="x")])],
    )  # fmt: skip
    (received,) = through_wire(Metric(name="d", datatype=16, dataset_value=value)).metrics
    with pytest.raises(Unstorable, match="coluna 'Blob' do DataSet: tipo Bytes"):
        values(received, 16)


def test_dataset_whose_row_misses_columns_is_unstorable():
    DataSet = pb.Payload.DataSet
    value = DataSet(
        num_of_columns=2, columns=["A", "B"], types=[3, 3],
        rows=[DataSet.Row(elements=[DataSet.DataSetValue(int_value=1)])],
    )  # fmt: skip
    (received,) = through_wire(Metric(name="d", datatype=16, dataset_value=value)).metrics
    with pytest.raises(Unstorable, match="DataSet malformado"):
        values(received, 16)


def motor_template() -> pb.Payload.Template:
    """A UDT instance: scalars, a null, a nested instance two levels deep, a one-row DataSet."""
    Template = pb.Payload.Template
    bearing = Template(
        template_ref="Bearing",
        metrics=[
            Metric(name="Temp", datatype=9, float_value=55.25),
            Metric(name="Vibration", datatype=10, double_value=0.125),
        ],
    )
    drive = Template(
        template_ref="Drive",
        metrics=[
            Metric(name="Rpm", datatype=2, int_value=0xFFFF),  # -1: turning backwards
            Metric(name="Bearing", datatype=19, template_value=bearing),
        ],
    )
    limits = pb.Payload.DataSet(
        num_of_columns=1, columns=["Max"], types=[4],
        rows=[pb.Payload.DataSet.Row(elements=[pb.Payload.DataSet.DataSetValue(long_value=2**64 - 7)])],
    )  # fmt: skip
    return Template(
        template_ref="Motor",
        metrics=[
            Metric(name="Running", datatype=11, boolean_value=True),
            Metric(name="Serial", datatype=12, string_value="M-0042"),
            Metric(name="Hours", datatype=8, long_value=2**40),
            Metric(name="Fault", datatype=3, is_null=True),
            Metric(name="Drive", datatype=19, template_value=drive),
            Metric(name="Limits", datatype=16, dataset_value=limits),
        ],
    )


def test_template_instance_is_flattened_recursively_by_member_datatypes():
    (received,) = through_wire(
        Metric(name="Motor1", datatype=19, template_value=motor_template())
    ).metrics
    assert values(received, 19) == [
        ("/Running", True),
        ("/Serial", "M-0042"),
        ("/Hours", 2**40),
        ("/Fault", None),
        ("/Drive/Rpm", -1),
        ("/Drive/Bearing/Temp", 55.25),
        ("/Drive/Bearing/Vibration", 0.125),
        ("/Limits/Max", -7),
    ]


def test_template_definition_is_not_data():
    definition = motor_template()
    definition.is_definition = True
    (received,) = through_wire(
        Metric(name="_types_/Motor", datatype=19, template_value=definition)
    ).metrics
    with pytest.raises(Unstorable, match="definição de Template"):
        values(received, 19)


def test_template_member_of_an_unstorable_type_names_the_member():
    template = motor_template()
    template.metrics[4].template_value.metrics.add(
        name="Firmware", datatype=17, bytes_value=b"\x01"
    )
    (received,) = through_wire(Metric(name="Motor1", datatype=19, template_value=template)).metrics
    with pytest.raises(Unstorable, match="membro /Drive/Firmware do Template: tipo Bytes"):
        values(received, 19)


def test_template_member_with_many_row_dataset_is_unstorable():
    template = motor_template()
    limits = template.metrics[5].dataset_value
    limits.rows.add().elements.add(long_value=1)
    (received,) = through_wire(Metric(name="Motor1", datatype=19, template_value=template)).metrics
    with pytest.raises(Unstorable, match="membro /Limits do Template: DataSet com 2 linhas"):
        values(received, 19)


@pytest.mark.parametrize(
    ("datatype", "reason"),
    [
        (17, "tipo Bytes não é armazenado"),
        (18, "tipo File não é armazenado"),
        (20, "tipo PropertySet não é armazenado"),
        (21, "tipo PropertySetList não é armazenado"),
        (22, r"tipo Int8Array \(array\) não é armazenado"),
        (30, r"tipo FloatArray \(array\) não é armazenado"),
        (0, r"tipo de dado desconhecido \(0\)"),
        (99, r"tipo de dado desconhecido \(99\)"),
    ],
)
def test_unstorable_kinds_raise_with_the_reason(datatype, reason):
    (received,) = through_wire(Metric(name="b", datatype=datatype, bytes_value=b"\x00\x01")).metrics
    with pytest.raises(Unstorable, match=reason):
        values(received, datatype)


@pytest.mark.parametrize(
    "data",
    [b"garbage bytes", b'{"ts": 1, "metrics": []}', b"\xff\xff\xff", b"\x12\x05\x0a\x01"],
)
def test_garbage_bytes_are_a_payload_error(data):
    with pytest.raises(PayloadError, match="payload Sparkplug B inválido"):
        decode(data)


def test_payload_error_and_unstorable_are_value_errors():
    assert issubclass(PayloadError, ValueError)
    assert issubclass(Unstorable, ValueError)


def test_decode_keeps_the_payload_fields():
    payload = through_wire(
        Metric(name="bdSeq", datatype=4, long_value=3, timestamp=1_700_000_000_500)
    )
    assert payload.timestamp == 1_700_000_000_000
    assert payload.seq == 7
    (metric,) = payload.metrics
    assert (metric.name, metric.timestamp) == ("bdSeq", 1_700_000_000_500)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(3, 3.0), (-7, -7.0), (2.5, 2.5), (True, 1.0), (False, 0.0), (2**64 - 1, float(2**64 - 1)),
     ("running", None), ("", None), (None, None)],
)  # fmt: skip
def test_numeric(value, expected):
    found = numeric(value)
    assert found == expected
    assert found is None or type(found) is float


def test_numeric_keeps_nan():
    found = numeric(math.nan)
    assert found is not None
    assert math.isnan(found)
