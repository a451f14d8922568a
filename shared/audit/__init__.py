"""Audit trail of authenticated requests: an append-only, day-partitioned table in the MES
database, written in batches off the request path (reads) or in the write's own transaction
(production reports), and served by GET /api/v1/audit."""
