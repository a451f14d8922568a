"""Interop: payloads written by an independent encoder (pysparkplug, in its own virtualenv,
through interop_encode.py) decode with payload.py to exactly what that encoder was given."""

from __future__ import annotations

import json
import re
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from services.telemetry.sparkplug.payload import DATATYPES, decode, values
from services.telemetry.sparkplug.proto import sparkplug_b_pb2 as pb

ROOT = Path(__file__).resolve().parents[3]
INTEROP_PYTHON = ROOT / ".venv-interop" / "bin" / "python"
SCRIPT = Path(__file__).with_name("interop_encode.py")
BASE = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def encode_with_pysparkplug(*args: str) -> dict[str, Any]:
    """Run interop_encode.py in the interop virtualenv; its JSON (see the script's docstring)."""
    if not (INTEROP_PYTHON.exists() and (ROOT / ".venv-interop" / ".installed").exists()):
        pytest.fail(
            f"virtualenv de interop ausente ({INTEROP_PYTHON.parent.parent}): "
            "rode `make interop` (o `make test` o cria)"
        )
    done = subprocess.run(
        [str(INTEROP_PYTHON), str(SCRIPT), *args],
        capture_output=True, text=True, timeout=60, check=False, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def encoded() -> dict[str, Any]:
    return encode_with_pysparkplug(
        "--group", "Plant A", "--node", "GW-7", "--device", "Press1", "--timestamp", str(BASE)
    )


def messages(encoded: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {message["type"]: message for message in encoded["messages"]}


def as_sent(datatype: int, value: Any) -> Any:
    """The value pysparkplug was given as it can travel: a Float is 32 bits on the wire."""
    if DATATYPES[datatype] == "Float":
        return struct.unpack("<f", struct.pack("<f", value))[0]
    return value


def test_the_encoder_is_pysparkplug_and_writes_the_documented_messages(encoded):
    assert encoded["encoder"] == "pysparkplug 0.6.1"
    assert [m["type"] for m in encoded["messages"]] == ["NBIRTH", "DBIRTH", "DDATA", "NDEATH"]
    assert [m["topic"] for m in encoded["messages"]] == [
        "spBv1.0/Plant A/NBIRTH/GW-7",
        "spBv1.0/Plant A/DBIRTH/GW-7/Press1",
        "spBv1.0/Plant A/DDATA/GW-7/Press1",
        "spBv1.0/Plant A/NDEATH/GW-7",
    ]
    assert (encoded["group"], encoded["edgeNode"], encoded["device"]) == (
        "Plant A",
        "GW-7",
        "Press1",
    )


def test_payload_timestamps_and_seq(encoded):
    for message in encoded["messages"]:
        payload = decode(bytes.fromhex(message["payload"]))
        assert payload.timestamp == message["timestamp"]
        if message["seq"] is None:
            assert not payload.HasField("seq")
        else:
            assert payload.HasField("seq")
            assert payload.seq == message["seq"]
    sent = messages(encoded)
    assert [sent[t]["timestamp"] for t in ("NBIRTH", "DBIRTH", "DDATA", "NDEATH")] == [
        BASE, BASE, BASE + 1000, BASE + 2000,
    ]  # fmt: skip
    assert [sent[t]["seq"] for t in ("NBIRTH", "DBIRTH", "DDATA")] == [0, 1, 2]


def test_nbirth_and_ndeath_carry_bdseq(encoded):
    sent = messages(encoded)
    nbirth = decode(bytes.fromhex(sent["NBIRTH"]["payload"]))
    by_name = {m.name: m for m in nbirth.metrics}
    assert set(by_name) == {"bdSeq", "Node Control/Rebirth"}
    assert values(by_name["bdSeq"], by_name["bdSeq"].datatype) == [("", 0)]
    assert DATATYPES[by_name["bdSeq"].datatype] == "Int64"
    rebirth = by_name["Node Control/Rebirth"]
    assert (DATATYPES[rebirth.datatype], values(rebirth, rebirth.datatype)) == (
        "Boolean",
        [("", False)],
    )
    ndeath = decode(bytes.fromhex(sent["NDEATH"]["payload"]))
    (bd_seq,) = ndeath.metrics
    assert bd_seq.name == "bdSeq"
    assert values(bd_seq, bd_seq.datatype) == [("", 0)]


def check_metric(metric: pb.Payload.Metric, expected: dict[str, Any], datatype: int) -> None:
    if expected["name"] is None:
        assert not metric.HasField("name")
    else:
        assert metric.name == expected["name"]
    if expected["alias"] is None:
        assert not metric.HasField("alias")
    else:
        assert metric.alias == expected["alias"]
    if expected["timestamp"] is None:
        assert not metric.HasField("timestamp")
    else:
        assert metric.timestamp == expected["timestamp"]
    found = values(metric, datatype)
    assert found == [("", as_sent(datatype, expected["value"]))], expected
    assert type(found[0][1]) is type(expected["value"]), expected


def test_every_message_decodes_to_what_was_encoded(encoded):
    for message in encoded["messages"]:
        assert message["datatypesOnWire"] is True or message["type"] == "DDATA"
        if message["type"] == "DDATA":
            continue
        payload = decode(bytes.fromhex(message["payload"]))
        assert len(payload.metrics) == len(message["metrics"])
        for metric, expected in zip(payload.metrics, message["metrics"], strict=True):
            assert metric.datatype == expected["datatype"]
            check_metric(metric, expected, metric.datatype)


def test_dbirth_declares_aliases_names_and_datatypes(encoded):
    dbirth = decode(bytes.fromhex(messages(encoded)["DBIRTH"]["payload"]))
    declared = {m.alias: (m.name, DATATYPES[m.datatype]) for m in dbirth.metrics}
    assert declared == {
        1: ("Temperature/Offset", "Int32"),
        2: ("Energy/Balance", "Int64"),
        3: ("Counter/Cycles", "UInt64"),
        4: ("Temperature", "Float"),
        5: ("Pressure", "Double"),
        6: ("Running", "Boolean"),
        7: ("State", "String"),
        8: ("Count/Good", "UInt32"),
        9: ("Count/Scrap", "UInt32"),
        10: ("Trim", "Int8"),
        11: ("Axis/Position", "Int16"),
        12: ("Maintenance/Last", "DateTime"),
    }
    by_alias = {m.alias: values(m, m.datatype)[0][1] for m in dbirth.metrics}
    assert by_alias[1] == -40
    assert by_alias[2] == -1_234_567_890_123
    assert by_alias[3] == 18_000_000_000_000_000_000
    assert by_alias[10] == -5
    assert by_alias[11] == -300


def test_ddata_with_aliases_only_decodes_with_the_births_datatypes(encoded):
    sent = messages(encoded)
    dbirth = decode(bytes.fromhex(sent["DBIRTH"]["payload"]))
    birth = {m.alias: (m.name, m.datatype) for m in dbirth.metrics}
    ddata = decode(bytes.fromhex(sent["DDATA"]["payload"]))
    assert sent["DDATA"]["datatypesOnWire"] is False
    assert len(ddata.metrics) == len(sent["DDATA"]["metrics"]) == len(birth)
    stamped: dict[str, int] = {}
    decoded: dict[str, Any] = {}
    for metric, expected in zip(ddata.metrics, sent["DDATA"]["metrics"], strict=True):
        assert not metric.HasField("datatype")
        assert not metric.HasField("name")
        name, datatype = birth[metric.alias]
        assert datatype == expected["datatype"]
        check_metric(metric, expected, datatype)
        # The host's rule: the metric's timestamp, else the payload's.
        stamped[name] = metric.timestamp if metric.HasField("timestamp") else ddata.timestamp
        decoded[name] = values(metric, datatype)[0][1]
    assert set(stamped.values()) == {BASE + 1000}
    assert any(m["timestamp"] is None for m in sent["DDATA"]["metrics"])
    assert decoded == {
        "Temperature/Offset": -41,
        "Energy/Balance": -(2**63),
        "Counter/Cycles": 2**64 - 1,
        "Temperature": 73.5,
        "Pressure": 1014.000000001,
        "Running": False,
        "State": "idle",
        "Count/Good": 1510,
        "Count/Scrap": 13,
        "Trim": -128,
        "Axis/Position": 32767,
        "Maintenance/Last": 1_695_000_000_123,
    }


def test_default_timestamp_is_now():
    before = int(time.time() * 1000)
    encoded = encode_with_pysparkplug()
    after = int(time.time() * 1000)
    nbirth = encoded["messages"][0]
    assert before <= nbirth["timestamp"] <= after
    assert decode(bytes.fromhex(nbirth["payload"])).timestamp == nbirth["timestamp"]
    assert (encoded["group"], encoded["edgeNode"], encoded["device"]) == (
        "Interop",
        "GW1",
        "Press1",
    )


def test_missing_interop_venv_fails_with_the_make_target(monkeypatch, tmp_path):
    monkeypatch.setattr(sys.modules[__name__], "INTEROP_PYTHON", tmp_path / "bin" / "python")
    with pytest.raises(pytest.fail.Exception, match="make interop"):
        encode_with_pysparkplug()


def test_interop_venv_is_locked_with_hashes_and_made_by_make_test():
    lock = (ROOT / "requirements" / "interop.txt").read_text()
    pins = dict(re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", lock, re.MULTILINE))
    assert pins["pysparkplug"] == "0.6.1"
    assert int(pins["paho-mqtt"].split(".")[0]) < 2
    assert lock.count("--hash=sha256:") >= len(pins)
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^test: .*\$\(INTEROP_STAMP\)", makefile, re.MULTILINE)
    assert "$(INTEROP_VENV)/bin/pip install -q --require-hashes -r $(INTEROP_LOCK)" in makefile
    assert "-o $(INTEROP_LOCK) requirements/interop.in" in makefile
