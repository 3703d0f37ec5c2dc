"""Durable file writes outside the database: the blob store's files and SQLite backups."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_directory(directory: Path) -> None:
    """Put the directory's entries on disk: a file renamed or created in it survives a
    power cut only once they are."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
