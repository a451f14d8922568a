"""Topic and payload validation (DESIGN.md section 4): rows to store, or reasons to dead-letter."""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import orjson

CHANNELS = ("telemetry", "state", "counter")
# Channels of the MQTT contract that are not ours to store: `alert` is what the analytics
# service publishes (anomalies, failure risk). Acknowledged, neither stored nor dead-lettered.
IGNORED_CHANNELS = ("alert",)
STATES = frozenset({"running", "idle", "setup", "stopped", "fault", "offline"})
MAX_NAME = 64
MAX_EPOCH_MS = 32503680000000  # year 3000: larger numbers are not epoch milliseconds
MAX_COUNT = 2**63 - 1  # BIGINT; orjson reads integers up to 2**64 - 1
_CONTROL = re.compile(r"[\x00-\x1f]")
# Metric names already found valid: a plant has a few hundred, each message repeats them.
_VALID_NAMES: set[str] = set()
_VALID_NAMES_MAX = 10_000


def _printable(text: str) -> bool:
    """No control characters: PostgreSQL refuses NUL, and none belongs in a name."""
    return _CONTROL.search(text) is None


def _valid_metric_name(name: str) -> bool:
    if name in _VALID_NAMES:
        return True
    if not name or len(name) > MAX_NAME or not _printable(name):
        return False
    if len(_VALID_NAMES) >= _VALID_NAMES_MAX:
        _VALID_NAMES.clear()  # bounded, whatever names a misbehaving device invents
    _VALID_NAMES.add(name)
    return True


@dataclass(frozen=True)
class Topic:
    site: str
    area: str
    line: str
    machine: str
    channel: str


@dataclass
class Parsed:
    """What one MQTT message becomes: rows per table and dead letters (topic, payload, reason)."""

    machine: tuple[str, str, str, str, dt.datetime] | None = (
        None  # machine, site, area, line, last ts
    )
    samples: list[tuple[str, str, dt.datetime, float]] = field(default_factory=list)
    states: list[tuple[str, dt.datetime, str, str | None]] = field(default_factory=list)
    counters: list[tuple[str, dt.datetime, int, int, str | None]] = field(default_factory=list)
    dead: list[tuple[str, bytes, str]] = field(default_factory=list)
    sample_days: set[dt.date] = field(default_factory=set)  # UTC days: the partitions it needs
    topic: str = ""  # the message as received, to dead-letter it whole if the database refuses it
    payload: bytes = b""


class Invalid(ValueError):
    """Why a message (or one element of a batch) cannot be stored."""


def parse_topic(topic: str) -> Topic:
    parts = topic.split("/")
    if len(parts) != 7 or parts[0] != "mes" or parts[1] != "v1":
        raise Invalid("tópico fora do padrão mes/v1/<site>/<area>/<line>/<machine>/<channel>")
    if any(not p or len(p) > MAX_NAME or not _printable(p) for p in parts[2:6]):
        raise Invalid("tópico com segmento vazio ou longo demais")
    if parts[6] not in CHANNELS and parts[6] not in IGNORED_CHANNELS:
        raise Invalid(f"canal '{parts[6]}' desconhecido; use telemetry, state ou counter")
    return Topic(*parts[2:7])


def parse_time(value: Any, *, tz: ZoneInfo, now: dt.datetime, retention_days: int) -> dt.datetime:
    """ISO-8601 (with offset, or plant time without one: PLCs often lack it) or epoch ms."""
    if isinstance(value, bool):
        raise Invalid("ts deve ser ISO-8601 ou epoch em milissegundos")
    if isinstance(value, int | float):
        if not math.isfinite(value) or not 0 <= value <= MAX_EPOCH_MS:
            raise Invalid("ts em milissegundos fora do intervalo")
        moment = dt.datetime.fromtimestamp(value / 1000, dt.UTC)
    elif isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise Invalid(f"ts inválido: {value[:40]!r}") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=tz)
    else:
        raise Invalid("ts ausente ou de tipo inválido")
    if moment > now + dt.timedelta(days=1):
        raise Invalid("ts mais de um dia no futuro")
    if moment < now - dt.timedelta(days=retention_days):
        raise Invalid("ts mais antigo que o período de retenção")
    return moment


def _text(value: Any, name: str, *, required: bool) -> str | None:
    if value is None and not required:
        return None
    if (
        not isinstance(value, str)
        or not value.strip()
        or len(value) > MAX_NAME
        or not _printable(value)
    ):
        raise Invalid(
            f"{name} deve ser um texto de 1 a {MAX_NAME} caracteres, sem caracteres de controle"
        )
    return value.strip()


def _count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
        raise Invalid(f"{name} deve ser um inteiro entre 0 e {MAX_COUNT}")
    return value


def parse_element(element: Any, topic: Topic, parsed: Parsed, **when: Any) -> dt.datetime:
    """Validate one payload object of the topic's channel and add its rows; returns its time."""
    if not isinstance(element, dict):
        raise Invalid("cada mensagem deve ser um objeto JSON")
    ts = parse_time(element.get("ts"), **when)
    machine = topic.machine
    if topic.channel == "telemetry":
        metrics = element.get("metrics")
        if not isinstance(metrics, dict) or not metrics:
            raise Invalid("metrics deve ser um objeto com ao menos uma métrica")
        rows = []
        for name, value in metrics.items():
            if not _valid_metric_name(name):
                raise Invalid("nome de métrica vazio, longo demais ou com caracteres de controle")
            if isinstance(value, bool):
                value = 1.0 if value else 0.0
            if not isinstance(value, int | float) or not math.isfinite(value):
                raise Invalid(f"métrica '{name[:MAX_NAME]}' deve ser número ou booleano")
            rows.append((machine, name, ts, float(value)))
        parsed.samples.extend(rows)
        parsed.sample_days.add(ts.astimezone(dt.UTC).date())
    elif topic.channel == "state":
        state = element.get("state")
        if state not in STATES:
            raise Invalid(f"state deve ser um de {', '.join(sorted(STATES))}")
        parsed.states.append(
            (machine, ts, state, _text(element.get("reason"), "reason", required=False))
        )
    else:
        good, scrap = _count(element.get("good"), "good"), _count(element.get("scrap"), "scrap")
        order = _text(element.get("order"), "order", required=False)
        parsed.counters.append((machine, ts, good, scrap, order))
    return ts


def parse_message(
    topic_text: str, payload: bytes, *, tz: ZoneInfo, now: dt.datetime, retention_days: int
) -> Parsed:
    """A message's rows; what does not fit goes to `dead` (a batch: each bad element alone)."""
    parsed = Parsed(topic=topic_text, payload=payload)
    when = {"tz": tz, "now": now, "retention_days": retention_days}
    try:
        topic = parse_topic(topic_text)
    except Invalid as exc:
        parsed.dead.append((topic_text, payload, str(exc)))
        return parsed
    if topic.channel in IGNORED_CHANNELS:
        return parsed
    try:
        document = orjson.loads(payload)
    except orjson.JSONDecodeError:
        parsed.dead.append((topic_text, payload, "payload não é JSON válido"))
        return parsed
    elements = document if isinstance(document, list) else [document]
    if not elements:
        parsed.dead.append((topic_text, payload, "lote vazio"))
        return parsed
    latest = None
    for element in elements:
        try:
            ts = parse_element(element, topic, parsed, **when)
        except Invalid as exc:
            raw = payload if len(elements) == 1 else orjson.dumps(element)
            parsed.dead.append((topic_text, raw, str(exc)))
            continue
        latest = ts if latest is None or ts > latest else latest
    if latest is not None:
        parsed.machine = (topic.machine, topic.site, topic.area, topic.line, latest)
    return parsed
