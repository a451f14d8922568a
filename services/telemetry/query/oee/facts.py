"""Collect facts: what the MES knows of the window, in one statement (queries.OEE_FACTS)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncpg

from services.telemetry.query import queries
from services.telemetry.query.oee.attribution import CountKey
from shared.db.pools import Connection

# State, PLC reason, seconds inside planned time, and the Protheus reason of the classified
# MES stop covering that time (None where none does).
StateTime = tuple[str, str | None, float, str | None]


@dataclass
class OeeFacts:
    """The targets (machine asked, or a line's machines) with whether each is registered,
    their state time inside planned time, and their counts per counter order key."""

    registered: dict[str, bool] = field(default_factory=dict)
    state_seconds: dict[str, list[StateTime]] = field(default_factory=lambda: defaultdict(list))
    counts: dict[CountKey, tuple[int, int]] = field(default_factory=dict)

    @property
    def targets(self) -> list[str]:
        return sorted(self.registered)

    @property
    def counted(self) -> dict[CountKey, tuple[int, int]]:
        """The counts with some unit in them (good + scrap > 0)."""
        return {key: value for key, value in self.counts.items() if value[0] + value[1] > 0}

    def has_data(self, machine: str) -> bool:
        """Whether the MES knows the machine: registered, or some state or count in the window."""
        return (
            self.registered.get(machine, False)
            or machine in self.state_seconds
            or any(m == machine for m, _ in self.counts)
        )

    def counts_of(self, machine: str) -> tuple[int, int]:
        """Good and scrap of one machine, every order key summed."""
        good = sum(g for (m, _), (g, _s) in self.counts.items() if m == machine)
        scrap = sum(s for (m, _), (_g, s) in self.counts.items() if m == machine)
        return good, scrap


def parse_facts(rows: Sequence[asyncpg.Record]) -> OeeFacts:
    """OEE_FACTS rows (kinds `machine`, `state`, `counter`) as OeeFacts."""
    facts = OeeFacts()
    for row in rows:
        if row["kind"] == "machine":
            facts.registered[row["machine"]] = row["registered"]
        elif row["kind"] == "state":
            facts.state_seconds[row["machine"]].append(
                (row["state"], row["reason"], row["seconds"], row["protheus_reason"])
            )
        else:
            facts.counts[(row["machine"], row["order_key"])] = (row["good"], row["scrap"])
    return facts


async def collect_facts(
    conn: Connection,
    *,
    machine: str | None,
    line: tuple[str, str, str] | None,
    start: dt.datetime,
    end: dt.datetime,
    planned: Sequence[queries.Interval],
    machines: Sequence[str] = (),
) -> OeeFacts:
    """The facts of the machine asked, a line's machines, or the machines listed (any mix)."""
    rows = await queries.oee_facts(
        conn,
        machine=machine,
        line=line,
        start=start,
        end=end,
        planned=planned,
        machines=machines,
    )
    return parse_facts(rows)
