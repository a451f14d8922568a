"""The demo plant's shape: scales, fixed codes, bounds and the random draws every part shares."""

from __future__ import annotations

import random
from bisect import bisect_right
from dataclasses import dataclass
from itertools import accumulate

from protheus_demo.vocabulary import MACHINE_KINDS

# Protheus's conventional "valid forever" end date of a BOM line.
OPEN_END = "20491231"
# Rows a recursive explosion of one product may return, per branch (each path counted).
BOM_SIZE_CAP = 3000
# The same bound for an explosion that forgets the branch filter and walks both branches.
UNION_SIZE_CAP = 4 * BOM_SIZE_CAP
MAX_DEPTH = 8

# Fixed codes, whatever the seed and scale, so tests and benchmarks can name them.
WIDELY_USED_COMPONENT = "10309901"  # raw material under hundreds of parents (default scale)
ABBREVIATED_PRODUCT = "10009901"  # description "TERM. BANDEIRA ..." (punctuation)
SHARED_SUBASSEMBLY = "20009901"  # intermediate under hundreds of parents (default scale)
DEEP_PRODUCTS: tuple[str, ...] = ("30009901", "30109902", "30209903")  # 8 levels below
DEEP_CHAIN_SIZE = MAX_DEPTH - 1
# Each tuple is a cycle in branch 01: every product is a component of the previous one
# and the first is a component of the last (A -> B -> A, P -> Q -> R -> P).
CYCLE_PRODUCTS: tuple[tuple[str, ...], ...] = (
    ("30009911", "20509911"),
    ("20509921", "20509922", "20509923"),
)
COMMON_SEARCH_TERM = "TERMINAL"
# Words of the rare solenoid family: each matches well under 0.5% of products.
SELECTIVE_SEARCH_TERMS: tuple[str, ...] = ("SOLENOIDE", "PRESSOSTATO")


@dataclass(frozen=True)
class Scale:
    """How much of everything a demo database holds."""

    name: str
    products: int
    machines_per_kind: int
    customers: int
    suppliers: int
    inbound_documents: int
    outbound_documents: int
    max_items: int
    orders: int
    widely_used: int
    shared_used: int
    max_materials: int


SCALES: dict[str, Scale] = {
    "tiny": Scale("tiny", 300, 2, 30, 24, 100, 100, 6, 70, 25, 15, 8),
    "default": Scale("default", 5_000, 3, 400, 250, 2_500, 3_000, 10, 800, 300, 200, 8),
    # Sized for the benchmarks' floors (>= 200,000 products, >= 1,000,000 BOM lines,
    # >= 2,000,000 invoice items) with a margin whatever the seed.
    "large": Scale("large", 205_000, 4, 6_000, 4_000, 190_000, 170_000, 12, 20_000, 800, 600, 9),
}

# BOM line kinds: what makes a line live or a trap for a filter someone forgot.
NORMAL, EXPIRED, NOT_YET, OLD_REVISION, NEXT_REVISION, DELETED = range(6)
TRT_CODES = ("", "001", "002")
INVALID_LOSSES = (150.0, -5.0, 100.0)

PI_HEIGHTS = ((1, 2, 3, 4, 5, 6, 7), (35, 25, 15, 10, 7, 5, 3))
PA_HEIGHTS = ((1, 2, 3, 4, 5, 6, 7, 8), (15, 25, 25, 15, 8, 6, 4, 2))
OPERATION_TITLES: dict[str, str] = {kind[0]: kind[2] for kind in MACHINE_KINDS}


class Popularity:
    """Picks items with Zipf-like weights: a few are used everywhere, most rarely, as in real BOMs."""

    def __init__(self, items: list[int], rng: random.Random, exponent: float = 0.85) -> None:
        self.items = list(items)
        rng.shuffle(self.items)
        self.cumulative = list(
            accumulate(1.0 / (rank + 1) ** exponent for rank in range(len(items)))
        )
        self.total = self.cumulative[-1] if self.cumulative else 0.0

    def pick(self, rng: random.Random) -> int | None:
        if not self.items:
            return None
        position = bisect_right(self.cumulative, rng.random() * self.total)
        return self.items[min(position, len(self.items) - 1)]


def sample(rng: random.Random, population: list[int], fraction: float, minimum: int) -> set[int]:
    count = min(len(population), max(minimum, round(len(population) * fraction)))
    return set(rng.sample(population, count))


# H1_MAOOBRA, the crew a resource needs: benches and packaging lines are manned by several
# people, machines by one (fixed per kind, no random draw: the other tables do not move).
CREWS: dict[str, float] = {"MONT": 2.0, "EMBAL": 3.0}


def crew_of(code: str) -> float:
    """H1_MAOOBRA of a demo machine code (kind prefix + unit number)."""
    return CREWS.get(code.rstrip("0123456789"), 1.0)


def cnpj(root: int, branch: int) -> str:
    digits = [int(ch) for ch in f"{root:08d}{branch:04d}"]
    for weights in ((5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2), (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)):
        rest = sum(d * w for d, w in zip(digits, weights, strict=False)) % 11
        digits.append(0 if rest < 2 else 11 - rest)
    return "".join(str(d) for d in digits)
