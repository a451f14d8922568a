"""The suite's root conftest: registers the shared fixtures' plugin (tests/plugin.py)."""

from __future__ import annotations

import os

# Services the tests start as processes record no audit (the apps built in-process get
# tests.helpers.NO_AUDIT in their Settings): the default MES_DB_URL is no test's database.
os.environ.setdefault("AUDIT_ENABLED", "false")

pytest_plugins = ["tests.plugin"]
