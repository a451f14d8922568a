"""Protheus AppServer REST simulator: OAuth2/Basic, production orders, MATA681, fault injection."""

from protheus_demo.simulator.app import NotADemoDatabase, create_simulator
from protheus_demo.simulator.config import FaultSettings, SimulatorConfig

__all__ = ["FaultSettings", "NotADemoDatabase", "SimulatorConfig", "create_simulator"]
