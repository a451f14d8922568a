"""Sparkplug seq bookkeeping per edge node (pure): 0..255 wrapping, the seqs skipped and
not arrived yet, and since when one is missing.

d = (seq - last) mod 256: 0 is a repeat; 1..127 is ahead (the seqs in between join
`missing`); 128..255 is late (it heals a missing one). A missing seq more than 127 behind
the latest can no longer be told from one ahead: it is lost, and LOST
stays in `missing` until the next NBIRTH, so the gap is never taken for healed and the
sweep asks the rebirth.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

MODULO = 256
AHEAD_MAX = 127
LOST = -1  # in `missing`: a seq that will never arrive (SMALLINT[] holds it as such)


class Arrival(StrEnum):
    FIRST = "first"  # no seq known yet (data before any birth): tracking starts here
    NEXT = "next"
    REPEAT = "repeat"
    AHEAD = "ahead"  # a gap opened
    HEALED = "healed"  # a missing seq arrived late
    LATE = "late"  # an older seq that was not missing (a duplicate from before)


@dataclass(frozen=True, slots=True)
class SeqState:
    last_seq: int | None = None
    missing: frozenset[int] = frozenset()
    gap_since: dt.datetime | None = None

    @property
    def gap(self) -> bool:
        return self.gap_since is not None


def born(seq: int) -> SeqState:
    """An NBIRTH resets everything to its seq (0 by the spec)."""
    return SeqState(last_seq=seq % MODULO)


def observe(state: SeqState, seq: int, at: dt.datetime) -> tuple[SeqState, Arrival]:
    """The state after a message with `seq` taken at `at` (a gap opened then dates from
    `at`), and how it arrived."""
    seq %= MODULO
    if state.last_seq is None:
        return SeqState(seq, state.missing, state.gap_since), Arrival.FIRST
    d = (seq - state.last_seq) % MODULO
    if d == 0:
        return state, Arrival.REPEAT
    if d <= AHEAD_MAX:
        skipped = {(state.last_seq + k) % MODULO for k in range(1, d)}
        # A missing seq now more than 127 behind would read as ahead: it is lost.
        kept = {m for m in state.missing if m == LOST or 0 < (seq - m) % MODULO <= AHEAD_MAX}
        missing = kept | skipped | ({LOST} if kept != state.missing else set())
        gap_since = state.gap_since
        if missing and gap_since is None:
            gap_since = at
        arrival = Arrival.NEXT if d == 1 else Arrival.AHEAD
        return SeqState(seq, frozenset(missing), gap_since), arrival
    if seq not in state.missing:
        return state, Arrival.LATE
    left = state.missing - {seq}
    return (
        SeqState(state.last_seq, left, state.gap_since if left else None),
        Arrival.HEALED,
    )


def rebirth_due(state: SeqState, now: dt.datetime, reorder_s: float) -> bool:
    """A gap not healed within reorder_s: the sweep asks a rebirth (its SQL says the same)."""
    return state.gap_since is not None and now - state.gap_since > dt.timedelta(seconds=reorder_s)
