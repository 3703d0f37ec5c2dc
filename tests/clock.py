"""A clock tests move by hand: services, the worker and the server take time as an
argument or a callable, never from the system."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta | None = None, **parts: float) -> None:
        """Move on by `delta` and/or keyword parts (`advance(hours=1)`)."""
        self.now += (delta or timedelta()) + timedelta(**parts)
