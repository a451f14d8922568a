"""Stop reasons: CYN (current releases, per branch) and the legacy generic table SX5 '44'."""

from __future__ import annotations

from collections.abc import Iterator

from protheus_demo.model import BRANCHES, SHARED_FILIAL, numbered
from protheus_demo.vocabulary import (
    BRANCH_02_UNUSED_REASONS,
    LEGACY_STOP_REASONS,
    OTHER_SX5_ROWS,
    RETIRED_STOP_REASONS,
    STOP_REASONS,
)


def cyn_rows() -> Iterator[tuple[object, ...]]:
    """CYN is exclusive: branch 01 keeps every reason, branch 02 fewer; retired reasons of
    branch 01 remain as deleted rows (one of them renamed: its code is live again)."""
    rows: list[tuple[tuple[object, ...], bool]] = [
        ((BRANCHES[0], code, text), False) for code, text in STOP_REASONS
    ]
    rows += [
        ((BRANCHES[1], code, text), False)
        for code, text in STOP_REASONS
        if code not in BRANCH_02_UNUSED_REASONS
    ]
    rows += [((BRANCHES[0], code, text), True) for code, text in RETIRED_STOP_REASONS]
    return numbered(rows)


def sx5_rows() -> Iterator[tuple[object, ...]]:
    """SX5 is shared (blank filial): table '44' with the legacy reasons, a deleted one, and
    rows of other tables under the same keys."""
    rows: list[tuple[tuple[object, ...], bool]] = [
        ((SHARED_FILIAL, table, key, text, text, text), False)
        for table, key, text in OTHER_SX5_ROWS
    ]
    rows += [
        ((SHARED_FILIAL, "44", code, text, text, text), False) for code, text in LEGACY_STOP_REASONS
    ]
    retired = ("07", "MANUTENCAO PROGRAMADA")
    rows.append(((SHARED_FILIAL, "44", *retired, retired[1], retired[1]), True))
    return numbered(rows)
