"""GET /api/v1/session: who the caller's key is and what it may do."""
