"""A Sparkplug B 3.0 edge-node simulator (tests, benchmark, demos): `python -m protheus_demo.edge`."""

from protheus_demo.edge.node import EdgeNode, Published
from protheus_demo.edge.payload import SentMetric

__all__ = ["EdgeNode", "Published", "SentMetric"]
