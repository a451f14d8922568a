"""Sparkplug B payloads written by an independent encoder (pysparkplug), for the interop tests.

Runs in the interop virtualenv (`make interop` creates .venv-interop from
requirements/interop.txt; pysparkplug pins paho-mqtt<2, which the dev venv cannot hold), never
imported by the suite: only the standard library and pysparkplug's own classes (Metric,
DataType, NBirth, DBirth, DData, NDeath, Topic) do the encoding.

    .venv-interop/bin/python tests/telemetry/sparkplug/interop_encode.py \
        [--group Interop] [--node GW1] [--device Press1] [--timestamp EPOCH_MS]

Prints one JSON object on stdout:

    {
      "encoder": "pysparkplug 0.6.1",
      "group": "Interop", "edgeNode": "GW1", "device": "Press1",
      "messages": [                      # in publishing order: NBIRTH, DBIRTH, DDATA, NDEATH
        {
          "type": "NBIRTH",              # NBIRTH | DBIRTH | DDATA | NDEATH
          "topic": "spBv1.0/Interop/NBIRTH/GW1",
          "payload": "0a1b...",          # the encoded protobuf, hex
          "timestamp": 1700000000000,    # payload timestamp, epoch ms
          "seq": 0,                      # payload seq (null on NDEATH: it has none)
          "datatypesOnWire": true,       # false on DDATA: aliases and values only
          "metrics": [
            {
              "name": "bdSeq",           # null on DDATA (alias only on the wire)
              "alias": null,             # int, or null when not sent
              "datatype": 4,             # spec number; on DDATA the birth's (not on the wire)
              "value": 0,                # int | float | bool | str as given to the encoder;
                                         # DateTime as epoch ms; a Float (9) travels as
                                         # 32 bits: compare after rounding to float32
              "timestamp": 1700000000000 # metric timestamp, or null (then the payload's)
            }
          ]
        }
      ]
    }

The NBIRTH carries bdSeq (Int64, as pysparkplug's EdgeNode sends it) and Node
Control/Rebirth; the DBIRTH declares the device's metrics with aliases 1..N (negative
Int8/Int16/Int32/Int64, UInt32 counters Count/Good and Count/Scrap, UInt64 above 2**63,
Float, Double, Boolean, DateTime, String State); the DDATA carries every alias with a changed
value, one of them without a metric timestamp; the NDEATH carries the NBIRTH's bdSeq (publish
it only to take the node offline). Timestamps are --timestamp (default: now) for the births,
+1000 ms for the DDATA, +2000 ms for the NDEATH.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from typing import Any

from pysparkplug import (
    DataType,
    DBirth,
    DData,
    MessageType,
    Metric,
    NBirth,
    NDeath,
    Topic,
    __version__,
    get_current_timestamp,
)

BD_SEQ = 0

# (alias, name, datatype, birth value, data value); DateTime values are epoch ms.
DEVICE_METRICS: list[tuple[int, str, DataType, Any, Any]] = [
    (1, "Temperature/Offset", DataType.INT32, -40, -41),
    (2, "Energy/Balance", DataType.INT64, -1_234_567_890_123, -9_223_372_036_854_775_808),
    (3, "Counter/Cycles", DataType.UINT64, 18_000_000_000_000_000_000, 2**64 - 1),
    (4, "Temperature", DataType.FLOAT, 72.25, 73.5),
    (5, "Pressure", DataType.DOUBLE, 1013.123456789, 1014.000000001),
    (6, "Running", DataType.BOOLEAN, True, False),
    (7, "State", DataType.STRING, "running", "idle"),
    (8, "Count/Good", DataType.UINT32, 1500, 1510),
    (9, "Count/Scrap", DataType.UINT32, 12, 13),
    (10, "Trim", DataType.INT8, -5, -128),
    (11, "Axis/Position", DataType.INT16, -300, 32767),
    (12, "Maintenance/Last", DataType.DATETIME, 1_690_000_000_000, 1_695_000_000_123),
]
# This DDATA metric carries no timestamp of its own: the payload's applies.
NO_METRIC_TIMESTAMP = 6


def encoded_value(datatype: DataType, value: Any) -> Any:
    """The value as pysparkplug takes it (a DateTime is a datetime)."""
    if datatype == DataType.DATETIME:
        return datetime.datetime.fromtimestamp(value / 1000, tz=datetime.UTC)
    return value


def described(metric: Metric, datatype: DataType, value: Any) -> dict[str, Any]:
    return {
        "name": metric.name,
        "alias": metric.alias,
        "datatype": int(datatype),
        "value": value,
        "timestamp": metric.timestamp,
    }


def message(
    kind: MessageType,
    topic: Topic,
    payload: bytes,
    *,
    timestamp: int,
    seq: int | None,
    datatypes: bool,
    metrics: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "type": str(kind),
        "topic": str(topic),
        "payload": payload.hex(),
        "timestamp": timestamp,
        "seq": seq,
        "datatypesOnWire": datatypes,
        "metrics": metrics,
    }


def encode(group: str, node: str, device: str, base: int) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []

    bd_seq = Metric(timestamp=base, name="bdSeq", datatype=DataType.INT64, value=BD_SEQ)
    rebirth = Metric(
        timestamp=base, name="Node Control/Rebirth", datatype=DataType.BOOLEAN, value=False
    )
    nbirth = NBirth(timestamp=base, seq=0, metrics=(bd_seq, rebirth))
    messages.append(
        message(
            MessageType.NBIRTH,
            Topic(message_type=MessageType.NBIRTH, group_id=group, edge_node_id=node),
            nbirth.encode(),
            timestamp=base,
            seq=0,
            datatypes=True,
            metrics=[
                described(bd_seq, DataType.INT64, BD_SEQ),
                described(rebirth, DataType.BOOLEAN, False),
            ],
        )
    )

    birth_metrics = [
        Metric(
            timestamp=base,
            name=name,
            datatype=datatype,
            alias=alias,
            value=encoded_value(datatype, value),
        )
        for alias, name, datatype, value, _ in DEVICE_METRICS
    ]
    dbirth = DBirth(timestamp=base, seq=1, metrics=tuple(birth_metrics))
    messages.append(
        message(
            MessageType.DBIRTH,
            Topic(
                message_type=MessageType.DBIRTH,
                group_id=group,
                edge_node_id=node,
                device_id=device,
            ),
            dbirth.encode(),
            timestamp=base,
            seq=1,
            datatypes=True,
            metrics=[
                described(metric, datatype, value)
                for metric, (_, _, datatype, value, _) in zip(
                    birth_metrics, DEVICE_METRICS, strict=True
                )
            ],
        )
    )

    at = base + 1000
    data_metrics = [
        Metric(
            timestamp=None if alias == NO_METRIC_TIMESTAMP else at,
            name=None,
            datatype=datatype,
            alias=alias,
            value=encoded_value(datatype, value),
        )
        for alias, _, datatype, _, value in DEVICE_METRICS
    ]
    ddata = DData(timestamp=at, seq=2, metrics=tuple(data_metrics))
    messages.append(
        message(
            MessageType.DDATA,
            Topic(
                message_type=MessageType.DDATA,
                group_id=group,
                edge_node_id=node,
                device_id=device,
            ),
            ddata.encode(include_dtypes=False),
            timestamp=at,
            seq=2,
            datatypes=False,
            metrics=[
                described(metric, datatype, value)
                for metric, (_, _, datatype, _, value) in zip(
                    data_metrics, DEVICE_METRICS, strict=True
                )
            ],
        )
    )

    death_at = base + 2000
    ndeath = NDeath(timestamp=death_at, bd_seq_metric=bd_seq)
    messages.append(
        message(
            MessageType.NDEATH,
            Topic(message_type=MessageType.NDEATH, group_id=group, edge_node_id=node),
            ndeath.encode(),
            timestamp=death_at,
            seq=None,
            datatypes=True,
            metrics=[described(bd_seq, DataType.INT64, BD_SEQ)],
        )
    )

    return {
        "encoder": f"pysparkplug {__version__}",
        "group": group,
        "edgeNode": node,
        "device": device,
        "messages": messages,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--group", default="Interop")
    parser.add_argument("--node", default="GW1")
    parser.add_argument("--device", default="Press1")
    parser.add_argument("--timestamp", type=int, default=None, help="epoch ms (default: now)")
    args = parser.parse_args(argv)
    base = args.timestamp if args.timestamp is not None else get_current_timestamp()
    json.dump(encode(args.group, args.node, args.device, base), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
