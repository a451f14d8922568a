"""The lake's datasets: one registry line each (what is read, how it is split into days, which
fact tables' dirty marks send a day back to the export).

A dataset is read from a table or view of the MES database. A partitioned one has a
timestamptz `day_column`: its rows go to `<dataset>/date=<plant day>/part-0.parquet` by the
plant day (PLANT_TIMEZONE) of that column, and its `sources` are the tables whose marking
triggers (migrations/mes/0022_lake.sql) place late changes on those days; the day column
must agree with the column the sources' triggers mark by. An unpartitioned one (a dimension)
is one file, `<dataset>/part-0.parquet`, written again only when its content changes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dataset:
    name: str
    relation: str  # schema-qualified table or view
    description: str
    day_column: str | None = None  # None: unpartitioned
    sources: tuple[str, ...] = ()
    # Unpartitioned datasets: the order that makes their file identical when nothing changed.
    order_by: tuple[str, ...] = ()
    # A table partitioned by UTC day whose old partitions retention drops: a day already in
    # the lake that starts before its oldest partition is never rewritten from what is left.
    retained_by: str | None = None

    @property
    def partitioned(self) -> bool:
        return self.day_column is not None


# The facts from the base tables until the analytics views (migration 0020) are merged;
# switching a line to its view (relation="analytics.states", ...) is the whole change.
DATASETS: tuple[Dataset, ...] = (
    Dataset(
        "telemetry_samples",
        "public.telemetry_samples",
        "Amostras brutas de telemetria (máquina, métrica, instante, valor): o lago guarda o que a retenção do banco descarta.",
        day_column="ts",
        sources=("telemetry_samples",),
        retained_by="telemetry_samples",
    ),
    Dataset(
        "states",
        "public.machine_states",
        "Estados das máquinas (running, idle, setup, stopped, fault, offline) com o motivo do CLP.",
        day_column="ts",
        sources=("machine_states",),
    ),
    Dataset(
        "counters",
        "public.machine_counters",
        "Contadores de peças boas e refugo desde a mensagem anterior da máquina.",
        day_column="ts",
        sources=("machine_counters",),
    ),
    Dataset(
        "stops",
        "public.stops",
        "Paradas detectadas, classificadas com o motivo do Protheus, e o estado do apontamento.",
        day_column="start_at",
        sources=("stops",),
    ),
    Dataset(
        "machines",
        "public.machines",
        "Máquinas que enviaram dados (site, área, linha, primeiro e último envio).",
        order_by=("machine",),
    ),
)


def select_datasets(names: list[str] | None) -> tuple[Dataset, ...]:
    """The registry's datasets, or those named (unknown names raise ValueError)."""
    if not names:
        return DATASETS
    by_name = {d.name: d for d in DATASETS}
    unknown = sorted(set(names) - set(by_name))
    if unknown:
        raise ValueError(
            f"conjuntos desconhecidos: {', '.join(unknown)}; existem: {', '.join(by_name)}"
        )
    return tuple(by_name[n] for n in names)
