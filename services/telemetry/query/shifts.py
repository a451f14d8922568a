"""SHIFT_CALENDAR: the plant's planned production time for OEE, parsed once and expanded per window.

Grammar (plant-local times, PLANT_TIMEZONE), entries separated by `,` or `;`:

    entry  := [days] range [range ...]
    days   := day | day-day | days+days | daily       (absent = every day)
    day    := mon tue wed thu fri sat sun | seg ter qua qui sex sab dom
    range  := HH:MM-HH:MM                             (end <= start crosses midnight; 24:00 allowed)

e.g. `mon-fri 06:00-22:00; sat 06:00-12:00` or `mon-fri 06:00-14:00 14:00-22:00, sun 22:00-06:00`.
A shift that crosses midnight belongs to the day it starts on. Absent = always planned.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from shared.settings import ConfigError

VARIABLE = "SHIFT_CALENDAR"
MINUTES_PER_DAY = 24 * 60
EVERY_DAY = frozenset(range(7))

# English and Portuguese abbreviations: the plant writes either.
DAY_NUMBERS: dict[str, int] = {
    "mon": 0,
    "tue": 1,
    "wed": 2,
    "thu": 3,
    "fri": 4,
    "sat": 5,
    "sun": 6,
    "seg": 0,
    "ter": 1,
    "qua": 2,
    "qui": 3,
    "sex": 4,
    "sab": 5,
    "sáb": 5,
    "dom": 6,
}
_RANGE = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")
_EXAMPLE = "ex.: mon-fri 06:00-22:00; sat 06:00-12:00"

Interval = tuple[dt.datetime, dt.datetime]


@dataclass(frozen=True)
class Shift:
    """Planned time on some weekdays, from `start` to `end` minutes after local midnight.

    `end` > `start` always: a shift crossing midnight ends after 1440 (the next day).
    """

    weekdays: frozenset[int]
    start: int
    end: int


def _fail(position: int, entry: str, problem: str) -> ConfigError:
    return ConfigError(VARIABLE, f"entrada {position} {entry!r}: {problem} ({_EXAMPLE})")


def _parse_days(token: str, position: int, entry: str) -> frozenset[int]:
    if token.lower() in ("daily", "diario", "diário", "*"):
        return EVERY_DAY
    days: set[int] = set()
    for part in token.lower().split("+"):
        first, dash, last = part.partition("-")
        if first not in DAY_NUMBERS or (dash and last not in DAY_NUMBERS):
            raise _fail(position, entry, f"dia desconhecido {part!r}; use mon..sun ou seg..dom")
        start = DAY_NUMBERS[first]
        stop = DAY_NUMBERS[last] if dash else start
        # A range may wrap the week (fri-mon = fri, sat, sun, mon).
        days.update((start + n) % 7 for n in range((stop - start) % 7 + 1))
    return frozenset(days)


def _parse_range(token: str, position: int, entry: str) -> tuple[int, int]:
    match = _RANGE.match(token)
    if not match:
        raise _fail(position, entry, f"horário {token!r} inválido; use HH:MM-HH:MM")
    h1, m1, h2, m2 = (int(group) for group in match.groups())
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2 != 0):
        raise _fail(position, entry, f"horário {token!r} fora de 00:00..24:00")
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if start == end:
        raise _fail(position, entry, f"horário {token!r} com início igual ao fim")
    if end < start:
        end += MINUTES_PER_DAY  # crosses midnight: ends the next day
    return start, end


def parse_shift_calendar(text: str | None) -> tuple[Shift, ...]:
    """The shifts of a SHIFT_CALENDAR value; empty for an absent value (always planned).

    Raises ConfigError naming SHIFT_CALENDAR, the entry and the problem.
    """
    if text is None or not text.strip():
        return ()
    shifts: list[Shift] = []
    for position, raw in enumerate(re.split(r"[,;]", text), start=1):
        entry = raw.strip()
        if not entry:
            raise _fail(position, raw, "entrada vazia")
        tokens = entry.split()
        if _RANGE.match(tokens[0]):
            weekdays, ranges = EVERY_DAY, tokens
        else:
            weekdays, ranges = _parse_days(tokens[0], position, entry), tokens[1:]
        if not ranges:
            raise _fail(position, entry, "falta o horário HH:MM-HH:MM")
        for token in ranges:
            start, end = _parse_range(token, position, entry)
            shifts.append(Shift(weekdays, start, end))
    return tuple(shifts)


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, non-overlapping intervals; overlapping or touching ones are joined."""
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


@dataclass(frozen=True)
class ShiftCalendar:
    """Planned production time in the plant's zone; no shifts means always planned."""

    shifts: tuple[Shift, ...]
    tz: ZoneInfo

    @classmethod
    def from_setting(cls, text: str | None, tz: ZoneInfo) -> ShiftCalendar:
        return cls(parse_shift_calendar(text), tz)

    @property
    def always(self) -> bool:
        return not self.shifts

    def planned(self, start: dt.datetime, end: dt.datetime) -> list[Interval]:
        """Planned intervals inside [start, end), in UTC, sorted and merged."""
        if end <= start:
            return []
        start, end = start.astimezone(dt.UTC), end.astimezone(dt.UTC)
        if self.always:
            return [(start, end)]
        # A shift that started the day before may still run at `start`.
        first = start.astimezone(self.tz).date() - dt.timedelta(days=1)
        last = end.astimezone(self.tz).date()
        pieces: list[Interval] = []
        for begin, finish in self.occurrences(first, last):
            lo, hi = max(begin, start), min(finish, end)
            if lo < hi:
                pieces.append((lo, hi))
        return merge(pieces)

    def occurrences(self, first: dt.date, last: dt.date) -> list[Interval]:
        """Each shift as it happens on the plant days first..last (by the day it starts on),
        in UTC, not merged: two back-to-back shifts stay two."""
        found: list[Interval] = []
        day = first
        while day <= last:
            midnight = dt.datetime.combine(day, dt.time())
            for shift in self.shifts:
                if day.weekday() not in shift.weekdays:
                    continue
                # Wall-clock times in the plant's zone (DST-aware), then UTC.
                begin = (midnight + dt.timedelta(minutes=shift.start)).replace(tzinfo=self.tz)
                finish = (midnight + dt.timedelta(minutes=shift.end)).replace(tzinfo=self.tz)
                found.append((begin.astimezone(dt.UTC), finish.astimezone(dt.UTC)))
            day += dt.timedelta(days=1)
        return sorted(found)

    def plant_day(self, day: dt.date) -> Interval:
        """The plant-local day, midnight to midnight (23 or 25 hours on a DST change), in UTC."""
        start = dt.datetime.combine(day, dt.time()).replace(tzinfo=self.tz)
        end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time()).replace(tzinfo=self.tz)
        return start.astimezone(dt.UTC), end.astimezone(dt.UTC)

    def current(self, now: dt.datetime) -> Interval:
        """The shift at `now` in UTC: the one running (the latest started when two overlap),
        else the last one ended (between shifts a supervisor still looks at it), else the
        plant-local day (always planned, or no shift in the past week)."""
        today = now.astimezone(self.tz).date()
        if self.always:
            return self.plant_day(today)
        shifts = self.occurrences(today - dt.timedelta(days=7), today)
        running = [shift for shift in shifts if shift[0] <= now < shift[1]]
        if running:
            return max(running)
        ended = [shift for shift in shifts if shift[1] <= now]
        if ended:
            return max(ended, key=lambda shift: (shift[1], shift[0]))
        return self.plant_day(today)
