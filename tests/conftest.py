"""The suite's root conftest: registers the shared fixtures' plugin (tests/plugin.py)."""

from __future__ import annotations

import os

# Apps built by the tests record no audit unless a test turns it on (tests/production/
# test_audit.py injects AuditSettings): the default MES_DB_URL is no test's database.
os.environ.setdefault("AUDIT_ENABLED", "false")

pytest_plugins = ["tests.plugin"]
