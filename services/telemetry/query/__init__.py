"""Telemetry query API: machines, latest values, series, states, counters, dead letters and OEE."""
