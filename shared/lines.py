"""A production line as the MQTT topic names it (`site/area/line`): the `line` parameter of
every route that filters by line (OEE, machines, stops, downtime), checked and split once;
and the `machine` or `line` choice of the routes that take either (stops, Pareto, OEE)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import marshmallow as ma

from shared.validation import (
    CONTROLS,
    SPACES,
    Refusal,
    String,
    char_class,
    matches,
    max_length,
    tagged,
)

# A machine code (H1_CODIGO) as a topic level names it: the ingestor takes none longer.
MACHINE_MAX = 64


def _part() -> str:
    """One part of a line: no slash nor control character, a non-blank one in it."""
    inner_blanks = "".join(ch for ch in SPACES if ch not in CONTROLS)
    return f"[{char_class(inner_blanks)}]*[^/{char_class(SPACES + CONTROLS)}][^/{char_class(CONTROLS)}]*"


# A line written site/area/line, three non-empty parts.
LINE_PATTERN = re.compile(f"^{_part()}/{_part()}/{_part()}$")
line_rule = matches(LINE_PATTERN, "format", "a linha é site/area/line, ex.: porto/usinagem/linha1.")


def split_line(value: str) -> tuple[str, str, str]:
    """`site/area/line` (validated by line_rule) as its three parts, blanks around each dropped:
    the columns of the telemetry `machines` table."""
    site, area, line = (part.strip() for part in value.split("/"))
    return site, area, line


NOT_BOTH = Refusal("machine", "exclusive", "informe machine ou line, não ambos.")


def machine_filter() -> String:
    """The optional `machine` of a route that takes a machine or a line."""
    return String(
        load_default=None,
        validate=max_length(MACHINE_MAX),
        metadata={"description": "Uma máquina (H1_CODIGO). Informe machine ou line, não ambos."},
    )


def check_machine_or_line(data: Mapping[str, Any], *, required: bool) -> None:
    """Refuse `machine` with `line` (NOT_BOTH) and, when `required`, neither of them."""
    machine, line = data.get("machine"), data.get("line")
    if machine and line:
        raise ma.ValidationError(
            tagged("exclusive", "informe machine ou line, não ambos."), field_name="machine"
        )
    if required and not machine and not line:
        raise ma.ValidationError(
            tagged("required", "informe machine ou line (site/area/line)."), field_name="machine"
        )
