"""SQL of the audit API (the writer's COPY and INSERT live with the writer)."""

from __future__ import annotations

# Filters bound as parameters (NULL = no filter); the total and one page in one round trip.
LIST = """
WITH matches AS (
    SELECT * FROM audit_log a
    WHERE ($1::text IS NULL OR a.key_name = $1)
      AND ($2::text IS NULL OR a.route = $2)
      AND ($3::int IS NULL OR a.status = $3)
      AND ($4::timestamptz IS NULL OR a.at >= $4)
      AND ($5::timestamptz IS NULL OR a.at < $5)
      AND ($6::text IS NULL OR a.request_id = $6)
)
SELECT h.total, p.* FROM (SELECT count(*) AS total FROM matches) h
LEFT JOIN LATERAL (
    SELECT m.at, m.request_id, m.key_name, m.method, m.route, m.path, m.status, m.client,
           m.peer, m.duration_ms, m.subject, m.service
    FROM matches m ORDER BY m.at DESC, m.request_id LIMIT $7 OFFSET $8
) p ON TRUE
"""
