"""python -m protheus_demo.plantgen generate|load|replay: the misbehaving plant from the shell."""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import sys
from pathlib import Path

import aiomqtt
import asyncpg

from protheus_demo.plantgen.generate import demo_machines, generate
from protheus_demo.plantgen.load import load
from protheus_demo.plantgen.model import PlantData
from protheus_demo.plantgen.replay import live, replay
from protheus_demo.plantgen.truth import write_truth


def _start(text: str | None, days: float) -> dt.datetime:
    if text:
        moment = dt.datetime.fromisoformat(text)
        return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    now = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    return now - dt.timedelta(days=days)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m protheus_demo.plantgen",
        description="A plant that misbehaves on purpose: telemetry with labelled anomalies.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def data_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--seed", type=int, default=16)
        sub.add_argument("--machines", type=int, default=12)
        sub.add_argument("--days", type=float, default=7)
        sub.add_argument("--step", type=float, default=10, help="seconds between readings")
        sub.add_argument("--start", default=None, help="ISO start (default: --days ago)")

    gen = commands.add_parser(
        "generate", help="write samples.csv, states.csv, counters.csv and truth.json"
    )
    data_options(gen)
    gen.add_argument("--out", required=True, type=Path)
    db = commands.add_parser(
        "load", help="COPY into an MES database (migrated) and write the truth"
    )
    data_options(db)
    db.add_argument("--dsn", required=True)
    db.add_argument("--truth", type=Path, default=None, help="where to write truth.json")
    rep = commands.add_parser("replay", help="publish on MQTT stamped with the current time")
    data_options(rep)
    rep.add_argument("--mqtt-url", default="mqtt://localhost:1883")
    rep.add_argument(
        "--speed", type=float, default=1.0, help="x real time (0: as fast as possible)"
    )
    rep.add_argument("--live", action="store_true", help="endless, a day at a time, from now")
    return parser  # fmt: skip


def _data(args: argparse.Namespace) -> PlantData:
    return generate(
        args.seed, machines=args.machines, start=_start(args.start, args.days), days=args.days,
        step_s=args.step,
    )  # fmt: skip


def write_csv(data: PlantData, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    tables = {
        "samples.csv": (("machine", "metric", "ts", "value"), data.samples()),
        "states.csv": (("machine", "ts", "state", "reason"), iter(data.states)),
        "counters.csv": (("machine", "ts", "good", "scrap", "order"), iter(data.counters)),
    }
    for name, (header, rows) in tables.items():
        with (out / name).open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            for row in rows:
                writer.writerow([v.isoformat() if isinstance(v, dt.datetime) else v for v in row])
    write_truth(data, out / "truth.json")


async def _load(args: argparse.Namespace) -> None:
    data = _data(args)
    conn = await asyncpg.connect(args.dsn)
    try:
        counts = await load(conn, data)
    finally:
        await conn.close()
    if args.truth:
        write_truth(data, args.truth)
    print(counts)


async def _replay(args: argparse.Namespace) -> None:
    if args.live:
        await live(
            args.mqtt_url, seed=args.seed, machines=demo_machines(args.machines), step_s=args.step
        )
        return
    data = _data(args)
    print(await replay(data, args.mqtt_url, args.speed), "messages published")


def main() -> int:
    args = _parser().parse_args()
    try:
        if args.command == "generate":
            write_csv(_data(args), args.out)
        elif args.command == "load":
            asyncio.run(_load(args))
        else:
            asyncio.run(_replay(args))
    except aiomqtt.MqttError as exc:
        print(f"broker MQTT indisponível: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
