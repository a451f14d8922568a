"""Sparkplug B topics: spBv1.0/<group>/<message type>/<edge node>[/<device>] and
spBv1.0/STATE/<host id>; what does not fit is a dead letter with its reason (pt-BR)."""

from __future__ import annotations

import re
from dataclasses import dataclass

NAMESPACE = "spBv1.0"
PREFIX = NAMESPACE + "/"
NODE_TYPES = frozenset({"NBIRTH", "NDATA", "NDEATH", "NCMD"})
DEVICE_TYPES = frozenset({"DBIRTH", "DDATA", "DDEATH", "DCMD"})
# Commands (ours or another host's) and host STATE pass on the same subscription: they are
# no edge node's data, so they are skipped, not dead-lettered.
IGNORED_TYPES = frozenset({"NCMD", "DCMD", "STATE"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
FORMAT = "spBv1.0/<grupo>/<tipo>/<edge node>[/<dispositivo>]"


class TopicError(ValueError):
    """Why a topic is no Sparkplug B topic (pt-BR)."""


@dataclass(frozen=True, slots=True)
class Topic:
    group: str
    kind: str  # NBIRTH, NDATA, ..., or STATE (then `node` is the host id)
    node: str
    device: str = ""  # '' on node messages

    @property
    def key(self) -> tuple[str, str]:
        """The edge node: what state, seq and the lock are kept per."""
        return self.group, self.node

    @property
    def ignored(self) -> bool:
        return self.kind in IGNORED_TYPES


def is_sparkplug(topic: str) -> bool:
    return topic.startswith(PREFIX)


def _segment(text: str) -> bool:
    """Sparkplug ids: not empty, no MQTT wildcards, no control characters (PostgreSQL
    refuses NUL, and none belongs in a name)."""
    return bool(text) and "+" not in text and "#" not in text and _CONTROL.search(text) is None


def parse_topic(text: str) -> Topic:
    parts = text.split("/")
    if parts[0] != NAMESPACE or len(parts) < 3:
        raise TopicError(f"tópico fora do padrão {FORMAT}")
    if parts[1] == "STATE" and len(parts) == 3:
        return Topic("", "STATE", parts[2])
    if len(parts) not in (4, 5):
        raise TopicError(f"tópico fora do padrão {FORMAT}")
    group, kind, node, *rest = parts[1:]
    if kind in NODE_TYPES:
        if rest:
            raise TopicError(f"mensagem {kind} de edge node com dispositivo no tópico")
    elif kind in DEVICE_TYPES:
        if not rest:
            raise TopicError(f"mensagem {kind} sem o dispositivo no tópico")
    else:
        raise TopicError(
            f"tipo de mensagem Sparkplug '{_CONTROL.sub('?', kind[:16])}' desconhecido"
        )
    if not all(_segment(p) for p in (group, node, *rest)):
        raise TopicError("tópico com segmento vazio, com curinga ou com caracteres de controle")
    return Topic(group, kind, node, rest[0] if rest else "")
