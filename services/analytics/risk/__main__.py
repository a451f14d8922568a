"""python -m services.analytics.risk train|evaluate|score: the failure-risk model on the MES
database (MES_DB_URL and the RISK_* settings, as the service reads them).

  train [--from ISO] [--to ISO] [--horizon H] [--inactive]
      features of every machine-hour of the window (default: the first sample to now) whose
      label horizon ends inside it (and is wholly observed: positive or not), the two
      candidates compared on its later hours, the better one stored as a new version, active
      unless --inactive; prints the model card.
  evaluate [--from ISO] [--to ISO] [--version V]
      the model (default: the active one) and the baseline on a window (default: from the end of
      its training window to now); prints ROC AUC, precision at the top 10%...
  score [--at ISO]
      scores each machine's last complete hour before --at (default: now) with the active
      model, writes machine_risk and the alerts, as the service's risk job does; prints the
      scores.

Instants are ISO-8601; without an offset they are read in PLANT_TIMEZONE.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from typing import Any

import asyncpg

from services.analytics.risk import service
from services.analytics.risk.features import HOUR, machine_hours, observed
from services.analytics.risk.model import TrainingError, evaluate, train
from shared.app import load_settings_or_exit
from shared.db.pools import create_pg_pool
from shared.json import dumps, loads
from shared.logging import configure_logging
from shared.migrations import migrate
from shared.settings import Settings

EARLIEST_SAMPLE = "SELECT min(ts) FROM telemetry_samples"


def instant(settings: Settings) -> Any:
    def parse(raw: str) -> dt.datetime:
        value = dt.datetime.fromisoformat(raw)
        return value if value.tzinfo is not None else value.replace(tzinfo=settings.tz)

    return parse


def parse_args(argv: list[str], settings: Settings) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m services.analytics.risk")
    commands = parser.add_subparsers(dest="command", required=True)
    when = instant(settings)
    fit = commands.add_parser("train", help="treina e grava uma nova versão do modelo")
    fit.add_argument("--from", dest="first", type=when, help="início (padrão: a 1a amostra)")
    fit.add_argument("--to", dest="last", type=when, help="fim, exclusivo (padrão: agora)")
    fit.add_argument("--horizon", type=int, help="horas do rótulo (padrão: RISK_HORIZON_H)")
    fit.add_argument("--inactive", action="store_true", help="grava sem ativar")
    check = commands.add_parser("evaluate", help="mede um modelo gravado numa janela")
    check.add_argument("--from", dest="first", type=when, help="início (padrão: fim do treino)")
    check.add_argument("--to", dest="last", type=when, help="fim, exclusivo (padrão: agora)")
    check.add_argument("--version", help="versão (padrão: a ativa)")
    score = commands.add_parser("score", help="avalia a última hora completa de cada máquina")
    score.add_argument(
        "--at", type=when, help="avalia a última hora completa antes deste instante (padrão: agora)"
    )
    return parser.parse_args(argv)


async def run(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    pool = await create_pg_pool(
        settings.mes_db_url, max_size=2, ca_file=settings.db_ca_file, application_name="mes-risk"
    )
    try:
        async with pool.acquire() as conn:
            await migrate(conn)
        return await COMMANDS[args.command](pool, settings, args)
    finally:
        await pool.close()


async def do_train(
    pool: asyncpg.Pool, settings: Settings, args: argparse.Namespace
) -> dict[str, Any]:
    first = args.first
    if first is None:
        async with pool.acquire() as conn:
            first = await conn.fetchval(EARLIEST_SAMPLE)
        if first is None:
            raise TrainingError("não há amostras de telemetria para treinar.")
    last = args.last or dt.datetime.now(dt.UTC)
    rows = await machine_hours(pool, settings, first, last, horizon_h=args.horizon)
    # Labels do not look past the window (its end may be where an evaluation starts).
    horizon = settings.risk.horizon_h if args.horizon is None else args.horizon
    model = train(observed(rows, last, horizon), settings, horizon_h=args.horizon)
    await service.store_model(pool, model, key=settings.risk.model_key, active=not args.inactive)
    return {**model.card, "active": not args.inactive}


async def do_evaluate(
    pool: asyncpg.Pool, settings: Settings, args: argparse.Namespace
) -> dict[str, Any]:
    model = await service.load_model(pool, key=settings.risk.model_key, version=args.version)
    if model is None:
        raise TrainingError(
            "nenhum modelo gravado com essa versão (ou nenhum ativo), ou sua assinatura não "
            "confere com RISK_MODEL_KEY."
        )
    first = args.first or dt.datetime.fromisoformat(model.card["trainingWindow"]["to"])
    last = args.last or dt.datetime.now(dt.UTC)
    rows = await machine_hours(pool, settings, first, last, horizon_h=model.horizon_h)
    return {"from": first.isoformat(), "to": last.isoformat(), **evaluate(model, rows)}


async def do_score(
    pool: asyncpg.Pool, settings: Settings, args: argparse.Namespace
) -> dict[str, Any]:
    model = await service.load_model(pool, key=settings.risk.model_key)
    if model is None:
        raise TrainingError(
            "nenhum modelo ativo (ou sua assinatura não confere com RISK_MODEL_KEY): rode train."
        )
    now = args.at or dt.datetime.now(dt.UTC)
    written = await service.score_current(pool, settings, model, now=now)
    hour = service.scored_hour(now)
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT machine, risk, alert_open, top_features FROM machine_risk "
            "WHERE hour >= $1 AND hour < $2 ORDER BY risk DESC",
            hour,
            hour + HOUR,
        )
    scores = [{**dict(r), "top_features": loads(r["top_features"])} for r in rows]
    return {"hour": hour.isoformat(), **written, "scores": scores}


COMMANDS = {"train": do_train, "evaluate": do_evaluate, "score": do_score}


def main(argv: list[str] | None = None) -> None:
    settings = load_settings_or_exit()
    args = parse_args(sys.argv[1:] if argv is None else argv, settings)
    configure_logging(settings.log_level, service="risk")
    try:
        answer = asyncio.run(run(args, settings))
    except TrainingError as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(1) from None
    print(dumps(answer))


if __name__ == "__main__":
    main()
