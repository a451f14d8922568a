"""The lake's datasets: one registry line each (what is read, how it is split into days, which
fact tables' dirty marks send a day back to the export).

A dataset is read from a table or view of the MES database. A partitioned one has a
`day_column`, a timestamptz or a UTC timestamp (the views' `*_utc`): its rows go to `<dataset>/date=<plant day>/part-0.parquet` by the
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


# What BI sees (schema analytics, migrations 0020 and 0021) plus the raw samples.
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
        "production",
        "analytics.production",
        "Apontamentos de produção do MES e do Protheus (SH6), ligados pelo marcador; pelo início.",
        day_column="start_utc",
        sources=("production_reports", "sh6"),
    ),
    Dataset(
        "stops",
        "analytics.stops",
        "Paradas detectadas, classificadas com o motivo do Protheus, e o estado do apontamento.",
        day_column="start_utc",
        sources=("stops",),
    ),
    Dataset(
        "states",
        "analytics.states",
        "Estados das máquinas, cada um até o estado seguinte da máquina.",
        day_column="start_utc",
        sources=("machine_states",),
    ),
    Dataset(
        "counters",
        "analytics.counters",
        "Contadores de peças boas e refugo desde a mensagem anterior da máquina.",
        day_column="ts_utc",
        sources=("machine_counters",),
    ),
    Dataset(
        "telemetry_1m",
        "analytics.telemetry_1m",
        "Telemetria por máquina, métrica e minuto: mínimo, máximo, média e contagem.",
        day_column="bucket_utc",
        sources=("rollup_telemetry_1m",),
    ),
    Dataset(
        "telemetry_1h",
        "analytics.telemetry_1h",
        "Telemetria por máquina, métrica e hora: mínimo, máximo, média e contagem.",
        day_column="bucket_utc",
        sources=("rollup_telemetry_1h",),
    ),
    Dataset(
        "oee_hourly",
        "analytics.oee_hourly",
        "OEE por máquina e hora (tempos planejado, rodando e ideal, boas, refugo, A, P, Q, OEE).",
        day_column="hour_utc",
        sources=("rollup_oee_hourly",),
    ),
    Dataset(
        "machines",
        "analytics.machines",
        "Máquinas do Protheus (SH1) e as vistas pelo MES, com site, área e linha.",
        order_by=("machine", "branch"),
    ),
    Dataset(
        "products",
        "analytics.products",
        "Produtos (SB1).",
        order_by=("product", "branch"),
    ),
    Dataset(
        "orders",
        "analytics.orders",
        "Ordens de produção (SC2) com o estado calculado como na API.",
        order_by=("order_key", "branch"),
    ),
    Dataset(
        "stop_reasons",
        "analytics.stop_reasons",
        "Motivos de parada (CYN, senão SX5 tabela 44).",
        order_by=("code", "source", "branch"),
    ),
    Dataset(
        "shifts",
        "analytics.shifts",
        "Turnos do SHIFT_CALENDAR por dia da semana ISO.",
        order_by=("weekday", "start_time", "shift"),
    ),
    Dataset(
        "calendar",
        "analytics.calendar",
        "Dias da planta, do primeiro fato a um ano adiante.",
        order_by=("date",),
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
