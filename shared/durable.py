"""Making what was written to local disk durable: fsync of a file by its path (a closed file's
data) or of a directory (the names created or renamed in it)."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_path(path: Path) -> None:
    """fsync a file or a directory by path (fsync syncs the inode, whichever descriptor)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
