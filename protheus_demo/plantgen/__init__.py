"""A plant that misbehaves on purpose: seeded machine telemetry with labelled events (issue 16).

generate() makes the data and its ground truth, load() copies it into an MES database,
write_truth() saves the truth beside it, replay() publishes it live on MQTT.
"""

from protheus_demo.plantgen.generate import demo_machines, generate
from protheus_demo.plantgen.load import load
from protheus_demo.plantgen.model import (
    ANOMALY_KINDS,
    LIMITS,
    METRICS,
    PlantData,
    TruthEvent,
)
from protheus_demo.plantgen.replay import live, replay
from protheus_demo.plantgen.truth import read_truth, write_truth

__all__ = [
    "ANOMALY_KINDS",
    "LIMITS",
    "METRICS",
    "PlantData",
    "TruthEvent",
    "demo_machines",
    "generate",
    "live",
    "load",
    "read_truth",
    "replay",
    "write_truth",
]
