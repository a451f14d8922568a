"""Demo-database test support: the fixed seed and reference date of the trap checks."""

from __future__ import annotations

import datetime

# A fixed reference date: every "expired", "idle" or "future" check is relative to it.
TODAY = datetime.date(2024, 6, 1)
SEED = 20240101
