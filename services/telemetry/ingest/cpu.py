"""How busy the host's processors are, from /proc/stat (Linux), sampled on demand.

The spool's drainer is background work: while a burst arrives and the processors are
saturated, every cycle it takes is one the reader needs to take messages off the broker
(and, on a shared host, one the broker or the publishers need). It asks this gauge before
each batch, as a niced process would be scheduled after the others.
"""

from __future__ import annotations

import collections
import time
from pathlib import Path

STAT = Path("/proc/stat")


class HostCpu:
    """Busy fraction (0..1) of all processors since the previous sample at least
    `min_interval_s` ago; None where /proc/stat cannot be read."""

    def __init__(self, *, min_interval_s: float = 0.05, stat: Path = STAT) -> None:
        self.min_interval_s = min_interval_s
        self.stat = stat
        self._last: tuple[int, int] | None = None  # (busy, total) jiffies
        self._at = 0.0
        self._busy: float | None = None
        # (monotonic time, busy, total) of recent samples, for the load over a longer window.
        self._history: collections.deque[tuple[float, int, int]] = collections.deque(maxlen=256)

    def _read(self) -> tuple[int, int] | None:
        try:
            with self.stat.open("rb") as file:
                fields = file.readline().split()[1:]
        except OSError:
            return None
        # user nice system idle iowait irq softirq steal [guest guest_nice: inside user]
        values = [int(v) for v in fields[:8]]
        if len(values) < 5:
            return None
        idle = values[3] + values[4]
        total = sum(values)
        return total - idle, total

    def busy(self) -> float | None:
        now = time.monotonic()
        if self._last is not None and now - self._at < self.min_interval_s:
            return self._busy
        sample = self._read()
        if sample is None:
            return None
        if self._last is not None and sample[1] > self._last[1]:
            self._busy = (sample[0] - self._last[0]) / (sample[1] - self._last[1])
        self._last, self._at = sample, now
        self._history.append((now, *sample))
        return self._busy

    def busy_over(self, seconds: float) -> float | None:
        """Busy fraction over (at least) the last `seconds`, from the samples `busy()` took;
        None until a sample that old exists."""
        self.busy()
        if not self._history:
            return None
        now, busy, total = self._history[-1]
        for at, old_busy, old_total in reversed(self._history):
            if now - at >= seconds and total > old_total:
                return (busy - old_busy) / (total - old_total)
        return None
