"""Protheus dates: a column of type D holds the day as 'YYYYMMDD' text."""

from __future__ import annotations

import datetime as dt


def dtos(day: dt.date) -> str:
    """A day as a Protheus D column stores it, 'YYYYMMDD' (AdvPL's DTOS)."""
    return day.strftime("%Y%m%d")
