"""python -m bench [catalog ...]: run the named benchmarks (all by default)."""

from __future__ import annotations

import asyncio
import sys

from bench import (
    analytics_oee,
    anomaly_ingest,
    audit,
    catalog,
    lake,
    predictive,
    production,
    sparkplug,
    stops,
    telemetry,
    web,
)

BENCHES = {
    "catalog": catalog.main,
    "audit": audit.main,
    "production": production.main,
    "telemetry": telemetry.main,
    "stops": stops.main,
    "sparkplug": sparkplug.main,
    "analytics_oee": analytics_oee.main,
    "lake": lake.main,
    "web": web.main,
    "predictive": predictive.main,
    "anomaly_ingest": anomaly_ingest.main,
}


def main() -> None:
    # Options (`--duration 30`) belong to the benchmarks that read them.
    args = sys.argv[1:]
    names = [
        a
        for i, a in enumerate(args)
        if not a.startswith("-") and (i == 0 or not args[i - 1].startswith("-"))
    ]
    names = names or list(BENCHES)
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        raise SystemExit(f"unknown benchmark(s) {unknown}; choose from {sorted(BENCHES)}")
    for name in names:
        asyncio.run(BENCHES[name]())


if __name__ == "__main__":
    main()
