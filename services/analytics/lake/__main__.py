"""python -m services.analytics.lake export [--from YYYY-MM-DD] [--to YYYY-MM-DD]
[--dataset NAME ...] [--force]: a backfill or a catch-up of the lake, under the scheduled
job's lock (it waits while the service's export runs); with --force (and --from), every day
of the range again, closed ones included (after a PLANT_TIMEZONE change). A progress bar on
a terminal, plain lines otherwise."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
import time
from pathlib import Path
from typing import TextIO

from services.analytics.jobs import LOCK_NAMESPACE
from services.analytics.lake.datasets import select_datasets
from services.analytics.lake.export import JOB, LakeExport, RunReport, Step
from shared.app import load_settings_or_exit
from shared.db.pools import create_pg_pool
from shared.logging import configure_logging

BAR_WIDTH = 30


class ProgressLine:
    """One line redrawn in place on a terminal; a line per written file elsewhere."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.tty = out.isatty()
        self.rows = 0
        self.started = time.monotonic()

    def __call__(self, step: Step) -> None:
        self.rows += step.rows if step.written else 0
        day = step.task.day.isoformat() if step.task.day else "-"
        what = f"{step.task.dataset.name} {day}"
        if self.tty:
            filled = BAR_WIDTH * step.done // max(step.total, 1)
            bar = "#" * filled + "." * (BAR_WIDTH - filled)
            rate = self.rows / max(time.monotonic() - self.started, 1e-6)
            line = f"\r[{bar}] {step.done}/{step.total} {what:<32} {self.rows:,} linhas ({rate:,.0f}/s)"
            self.out.write(line[:160])
            if step.done == step.total:
                self.out.write("\n")
        else:
            state = "gravado" if step.written else "sem mudança"
            self.out.write(f"{step.done}/{step.total} {what}: {step.rows} linhas, {state}\n")
        self.out.flush()


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m services.analytics.lake")
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export", help="exporta os conjuntos para o lago (LAKE_DIR)")
    export.add_argument("--from", dest="first", type=dt.date.fromisoformat, help="primeiro dia (YYYY-MM-DD, horário da planta)")  # fmt: skip
    export.add_argument("--to", dest="last", type=dt.date.fromisoformat, help="último dia (padrão: hoje)")  # fmt: skip
    export.add_argument("--dataset", action="append", help="só este conjunto (repetível)")
    export.add_argument("--force", action="store_true", help="regrava todos os dias do intervalo, mesmo os fechados (exige --from)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.force and args.first is None:
        export.error("--force exige --from")
    return args


async def export(args: argparse.Namespace, out: TextIO) -> RunReport:
    settings = load_settings_or_exit()
    datasets = select_datasets(args.dataset)
    pool = await create_pg_pool(
        settings.mes_db_url, max_size=2, ca_file=settings.db_ca_file, application_name="mes-lake"
    )
    try:
        async with pool.acquire() as lock:
            if not await lock.fetchval(
                "SELECT pg_try_advisory_lock($1::int, hashtext($2))", LOCK_NAMESPACE, JOB
            ):
                out.write("aguardando a exportação agendada terminar...\n")
                out.flush()
                await lock.execute("SELECT pg_advisory_lock($1::int, hashtext($2))", LOCK_NAMESPACE, JOB)  # fmt: skip
            try:
                lake = LakeExport(
                    pool,
                    lake_dir=Path(settings.analytics.lake_dir),
                    zone=settings.plant_timezone,
                    batch_rows=settings.analytics.batch_rows,
                    datasets=datasets,
                )
                return await lake.run(
                    first=args.first, last=args.last, progress=ProgressLine(out), force=args.force
                )
            finally:
                await lock.execute("SELECT pg_advisory_unlock($1::int, hashtext($2))", LOCK_NAMESPACE, JOB)  # fmt: skip
    finally:
        await pool.close()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    settings = load_settings_or_exit()
    configure_logging(settings.log_level, service="lake")
    try:
        report = asyncio.run(export(args, sys.stdout))
    except ValueError as exc:  # an unknown dataset
        print(exc, file=sys.stderr)
        raise SystemExit(2) from None
    total = sum(report.rows.values())
    print(f"{report.files} arquivo(s) gravado(s), {total} linhas, em {report.tasks} tarefa(s)")


if __name__ == "__main__":
    main()
