"""A production line as the MQTT topic names it (`site/area/line`): the `line` parameter of
every route that filters by line (OEE, machines, stops, downtime), checked and split once."""

from __future__ import annotations

import re

from shared.validation import CONTROLS, SPACES, char_class, matches


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
