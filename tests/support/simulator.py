"""Simulator test support: the simulator's configured user and its Basic credentials."""

from __future__ import annotations

import base64

USER = PASSWORD = "mesinteg"
BASIC = {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}
