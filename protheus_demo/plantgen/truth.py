"""The ground truth beside the data: a JSON file of the injected events and how they were made."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from protheus_demo.plantgen.model import LIMITS, METRICS, PlantData, TruthEvent


def truth_document(data: PlantData) -> dict[str, Any]:
    return {
        "seed": data.seed,
        "start": data.start.isoformat(),
        "end": data.end.isoformat(),
        "stepS": data.step_s,
        "metrics": list(METRICS),
        "limits": {m: list(bounds) for m, bounds in LIMITS.items()},
        "machines": [
            {"machine": m, "site": s, "area": a, "line": line} for m, s, a, line in data.machines
        ],
        "events": [event.to_json() for event in data.events],
    }


def write_truth(data: PlantData, path: str | Path) -> Path:
    """Write the ground truth as JSON (a folder gets `truth.json` inside); the file's path."""
    target = Path(path)
    if target.is_dir():
        target = target / "truth.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(truth_document(data), indent=1))
    return target


def read_truth(path: str | Path) -> list[TruthEvent]:
    document = json.loads(Path(path).read_text())
    return [TruthEvent.from_json(item) for item in document["events"]]
