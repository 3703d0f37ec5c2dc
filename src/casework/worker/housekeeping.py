"""The worker's upkeep between jobs: a round at most once per interval (an hour) that
refreshes the query planner's statistics where the database keeps none itself (SQLite:
`store.db.refresh_statistics`) and deletes finished jobs, webhook deliveries,
idempotency keys and notifications past their retention (`services/retention.py`;
CASEWORK_RETENTION_DONE / _FAILED / _IDEMPOTENCY / _NOTIFICATIONS, `off` for all four
turns pruning off), a bounded slice at a time so that due jobs never wait long."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from casework.services import retention as retention_service
from casework.services.retention import PruneResult, Retention
from casework.store.db import refresh_statistics

# The worker's own logger, as before this module was split from it: operators filter its
# lines by that name (docs/operations.md).
log = logging.getLogger("casework.worker.runner")

INTERVAL = timedelta(hours=1)
# Batches (of retention.BATCH_SIZE rows) per slice of pruning: the loop then runs the
# jobs that came due meanwhile before pruning on.
BATCHES = 10


class Housekeeping:
    """One worker's rounds of upkeep; `run` does the next slice when one is due."""

    def __init__(
        self,
        db: sessionmaker[Session],
        *,
        name: str,
        retention: Retention,
        interval: timedelta = INTERVAL,
        batches: int = BATCHES,
    ) -> None:
        if interval <= timedelta(0) or batches < 1:
            raise ValueError("housekeeping_interval and housekeeping_batches must be positive")
        self.db = db
        self.name = name
        self.retention = retention
        self.interval = interval
        self.batches = batches
        # When the current (or last) round started; None: never yet.
        self.started: datetime | None = None
        # A round's pruning left for the next call (the loop comes straight back).
        self.unfinished = False

    def run(self, now: datetime) -> PruneResult | None:
        """A round starts at most once per `interval`: it refreshes the statistics, then
        prunes at most `batches` batches per call; an unfinished round goes on at the
        next call. What was pruned; None when no pruning was due (or retention is off)."""
        if not self.unfinished:
            if self.started is not None and now < self.started + self.interval:
                return None
            self.started = now
            self._refresh_statistics()
        if not self.retention.enabled:
            return None
        # Should the pruning fail, the round counts as done: it is tried again in an
        # interval, not at every poll.
        self.unfinished = False
        result = retention_service.prune(
            self.db,
            now=now,
            done_after=self.retention.done_after,
            failed_after=self.retention.failed_after,
            idempotency_after=self.retention.idempotency_after,
            notifications_after=self.retention.notifications_after,
            max_batches=self.batches,
        )
        self.unfinished = not result.complete
        if result.total:
            log.info(
                "worker %s housekeeping: deleted %d job(s), %d webhook delivery(ies), "
                "%d idempotency key(s), %d notification(s)%s",
                self.name,
                result.deleted[retention_service.JOBS],
                result.deleted[retention_service.DELIVERIES],
                result.deleted[retention_service.KEYS],
                result.deleted[retention_service.NOTICES],
                "" if result.complete else "; more to come",
            )
        return result

    def _refresh_statistics(self) -> None:
        # On its own: a failure here must not keep the pruning from its turn.
        try:
            with self.db.begin() as session:
                refreshed = refresh_statistics(session.connection())
        except Exception as exc:
            log.error(
                "worker %s: refreshing the planner's statistics failed (%s)",
                self.name,
                type(exc).__name__,
            )
            return
        if refreshed:
            log.info("worker %s housekeeping: planner statistics refreshed", self.name)
