"""Plain records the generator builds before rendering rows, and the row helpers."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from protheus_demo.vocabulary import Family

BRANCHES: tuple[str, str] = ("01", "02")
# A shared table's branch column holds blanks.
SHARED_FILIAL = "  "


class Product:
    """A product of the plant (one SB1 row, before rendering)."""

    __slots__ = (
        "blocked",
        "code",
        "custd",
        "desc",
        "family",
        "grupo",
        "height",
        "index",
        "locpad",
        "operpad",
        "peso",
        "qb",
        "revatu",
        "segum",
        "slim",
        "spine",
        "tipo",
        "um",
    )

    def __init__(self, index: int, code: str, desc: str, tipo: str, um: str) -> None:
        self.index = index
        self.code = code
        self.desc = desc[:60]
        self.tipo = tipo
        self.um = um
        self.segum = ""
        self.grupo = code[:4] if code[0].isdigit() else ""
        self.locpad = {"PI": "02", "PA": "03"}.get(tipo, "01")
        self.blocked = "2"
        self.qb = 1.0
        self.revatu = ""
        self.custd = 0.0
        self.operpad = ""
        self.peso = 0.0
        self.family: Family | None = None
        self.height = 0
        # A slim product gets few components (the deep chains stay small); a spine is a
        # component it must use, which fixes its depth.
        self.slim = False
        self.spine: int | None = None

    def sb1(self) -> tuple[object, ...]:
        return (
            SHARED_FILIAL,
            self.code,
            self.desc,
            self.tipo,
            self.um,
            self.segum,
            self.grupo,
            self.locpad,
            self.blocked,
            self.qb,
            self.revatu,
            self.custd,
            self.operpad,
            self.peso,
        )


@dataclass(frozen=True, slots=True)
class Operation:
    """One routing operation (SG2 row) before rendering."""

    operac: str
    machine: int
    setup: float
    tempad: float
    lotepad: float
    maoobra: float
    tpoper: str


def hhmm(minutes: int) -> str:
    """Protheus time text HH:MM from minutes after midnight."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def with_control(business: tuple[object, ...], deleted: bool, recno: int) -> tuple[object, ...]:
    """A full row: business values followed by D_E_L_E_T_, R_E_C_N_O_, R_E_C_D_E_L_."""
    # Protheus marks a deleted row with '*' and copies its R_E_C_N_O_ into R_E_C_D_E_L_,
    # which keeps its unique key free for a live row with the same business key.
    return (*business, "*" if deleted else " ", recno, recno if deleted else 0)


def numbered(rows: Iterable[tuple[tuple[object, ...], bool]]) -> Iterator[tuple[object, ...]]:
    """Full rows from (business values, deleted) pairs, R_E_C_N_O_ counting from 1."""
    for recno, (business, deleted) in enumerate(rows, start=1):
        yield with_control(business, deleted, recno)
