"""Rollups for BI: telemetry per minute and hour, OEE per machine and hour, kept current from
dirty marks set by ingest (migration 0021)."""
