"""The worker: claims due jobs and runs them: timers, automated tasks, outbox messages.

Each job runs on its own: the case change goes through `run_command` (its own
transaction, with the case's optimistic concurrency), then the job is marked done in a
second short transaction. A crash between the two leaves the job `running` until its
lease expires; the next worker then finds the case already moved on (the task is no
longer active, the timer already fired) and just marks the job done. So the case sees
each job's effect exactly once, while a handler may run again after a crash: it gets
the same idempotency key every time to recognise that.

Between jobs the worker does housekeeping (`housekeeping.py`): at most once per
`housekeeping_interval` (an hour) it refreshes SQLite's planner statistics and deletes
what is past its retention, a bounded slice at a time so that due jobs never wait long.
At every poll it also rebuilds the search documents writes have marked
(`services/search.py`), a few batches at a time.

Time comes from `clock`, never from the system directly, so tests move it by hand.
Logs carry ids, kinds and handler names only: never case data or handler outputs.
"""

from __future__ import annotations

import copy
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session, sessionmaker

from casework.engine import commands as c
from casework.services import deadlines, notification_mail, search
from casework.services import retention as retention_service
from casework.services.actors import Actor
from casework.services.cases import run_command
from casework.services.errors import InvalidInput, NotFound, Refused
from casework.services.mail_settings import FROM_ENVIRONMENT, FromEnvironment, MailSettings
from casework.services.mail_settings import from_env as mail_settings_from_env
from casework.services.retention import PruneResult, Retention
from casework.services.transactions import holding
from casework.store.tables import Case, PlanItemRow
from casework.worker import housekeeping, jobs, mail, webhooks
from casework.worker.handlers import REGISTRY, HandlerContext, HandlerRegistry, UnknownHandler
from casework.worker.jobs import ClaimedJob, RetryPolicy
from casework.worker.signals import stop_on_signals
from casework.worker.webhooks import WebhookSender

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Deliver = Callable[[ClaimedJob], None]

HOUSEKEEPING_INTERVAL = housekeeping.INTERVAL
HOUSEKEEPING_BATCHES = housekeeping.BATCHES


# Jobs claimed per claim: each claim is a commit of its own, so a bigger batch spreads it
# over more jobs (10 -> 25: 18 % more timer jobs per second on SQLite when commits are
# cheap, 1-2 % where a fsync dominates). A job waiting behind the others in its batch
# has its lease renewed before it starts.
BATCH = 25
# Batches of search documents (services.search.BATCH cases each) per poll, between jobs.
SEARCH_BATCHES = 5


@dataclass(frozen=True, slots=True)
class DueRun:
    """What `Worker.run_due` did: the jobs claimed, the cases whose search documents it
    rebuilt, and the rows pruned per table (None: retention is off)."""

    jobs: int
    indexed: int
    pruned: dict[str, int] | None


def system_clock() -> datetime:
    return datetime.now(UTC)


def log_delivery(job: ClaimedJob) -> None:
    """The default outbox for messages other than webhooks (which `WebhookSender`
    sends): record that the message would go out."""
    log.info("message job=%s case=%s ref=%s delivered to the log", job.id, job.case_id, job.ref)


class PermanentFailure(Exception):
    """Retrying cannot help (unknown handler, bad job): fail the job at once."""


class Worker:
    """Runs due jobs; any number of workers may share one PostgreSQL database."""

    def __init__(
        self,
        db: sessionmaker[Session],
        *,
        name: str,
        clock: Clock = system_clock,
        batch: int = BATCH,
        lease: timedelta = timedelta(seconds=60),
        handlers: HandlerRegistry = REGISTRY,
        deliver: Deliver = log_delivery,
        retry: RetryPolicy | None = None,
        webhook_sender: WebhookSender | None = None,
        retention: Retention | None = None,
        housekeeping_interval: timedelta = HOUSEKEEPING_INTERVAL,
        housekeeping_batches: int = HOUSEKEEPING_BATCHES,
        mail_settings: MailSettings | FromEnvironment | None = FROM_ENVIRONMENT,
        mail_transport: mail.Transport | None = None,
    ) -> None:
        """`retention` None: from the environment (CASEWORK_RETENTION_DONE, ..._FAILED,
        ..._IDEMPOTENCY); `mail_settings` unless given: from the environment
        (CASEWORK_SMTP_URL..., `services/mail_settings.py`; None: no mail)."""
        if batch < 1:
            raise ValueError("batch must be at least 1")
        if lease <= timedelta(0):
            raise ValueError("lease must be positive")
        try:
            if retention is None:
                retention = retention_service.from_env(os.environ)
            else:
                retention_service.check(retention)
            if isinstance(mail_settings, FromEnvironment):
                mail_settings = mail_settings_from_env(os.environ)
        except InvalidInput as exc:
            raise ValueError(exc.message) from None
        self.db = db
        self.name = name
        self.clock = clock
        self.batch = batch
        self.lease = lease
        self.handlers = handlers
        self.deliver = deliver
        self.retry = retry or RetryPolicy()
        self.webhooks = webhook_sender or WebhookSender(db, clock=self.now)
        # Admin: the worker acts for the case type's own automation, not for a person;
        # the id says which worker did it in the audit trail.
        self.actor = Actor(f"worker:{name}", is_admin=True)
        self.retention = retention
        self._upkeep = housekeeping.Housekeeping(
            db,
            name=name,
            retention=retention,
            interval=housekeeping_interval,
            batches=housekeeping_batches,
        )
        self.mailer = (
            None
            if mail_settings is None
            else mail.MailSender(db, mail_settings, clock=self.now, transport=mail_transport)
        )
        self._stopping = threading.Event()
        self._finished_with_case = False

    def now(self) -> datetime:
        value = self.clock()
        if value.tzinfo is None:
            raise ValueError("the worker's clock must return an aware datetime")
        return value.astimezone(UTC)

    def stop(self) -> None:
        """Stop after the job in hand (from another thread); claimed jobs are handed back."""
        self._stopping.set()

    # -- the loop ------------------------------------------------------------------------
    def run_once(self) -> int:
        """Claim the jobs due now and run them; how many were claimed (0: nothing due)."""
        # One connection for the claim and every job's command: a connection from the
        # pool per commit costs about as much CPU as a timer job's statements.
        with holding(self.db):
            return self._run_batch()

    def _run_batch(self) -> int:
        claimed = jobs.claim(
            self.db, worker=self.name, now=self.now(), lease=self.lease, limit=self.batch
        )
        claimed_at = self.now()
        for index, job in enumerate(claimed):
            if self._stopping.is_set():
                # Shutting down: hand the rest back now rather than after their lease.
                for rest in claimed[index:]:
                    jobs.release(self.db, rest, worker=self.name)
                break
            # The claim set the lease; renew it (one more commit) only when the batch has
            # kept this job waiting long enough for the lease to run short.
            now = self.now()
            if now - claimed_at > self.lease / 2 and not jobs.renew(
                self.db, job, worker=self.name, now=now, lease=self.lease
            ):
                log.warning("job=%s lost its lease before it started; skipped", job.id)
                continue
            self._run(job)
        return len(claimed)

    def run_due(self) -> DueRun:
        """What a worker started from cron does (`casework worker --once`): every job due
        now, every search document writes marked, then a whole round of housekeeping.
        The jobs come first: should pruning fail, the work that matters is done; the
        notifications to mail are gathered before them, so their mails go out too."""
        if self.mailer is not None:
            self.gather_mail()
        total = 0
        while (claimed := self.run_once()) > 0:
            total += claimed
        indexed = self.index_search(max_batches=None)
        pruned: dict[str, int] | None = None
        while (result := self.housekeeping()) is not None:
            before = pruned or {}
            pruned = {table: before.get(table, 0) + n for table, n in result.deleted.items()}
            if result.complete:
                break
        return DueRun(total, indexed, pruned)

    def run_forever(
        self, poll_interval: float = 1.0, stop_event: threading.Event | None = None
    ) -> None:
        """Run until `stop_event` is set or SIGTERM/SIGINT arrives; the job in hand finishes."""
        stop = stop_event or threading.Event()
        self._stopping = stop
        log.info("worker %s started (poll %.1fs, batch %d)", self.name, poll_interval, self.batch)
        if self.mailer is not None:
            mail_to = self.mailer.settings
            # Host and port only: the URL may hold the password.
            log.info("worker %s mails through %s:%d", self.name, mail_to.host, mail_to.port)
        with stop_on_signals(stop):
            while not stop.is_set():
                # Housekeeping first (a slice at most), so a worker that always has jobs
                # due still gets to it; a round left unfinished goes on without waiting.
                busy = self._housekeeping_quietly()
                busy = self._index_search_quietly() or busy
                self._gather_mail_quietly()
                try:
                    busy = self.run_once() > 0 or busy
                except Exception as exc:
                    # The database went away, most likely: wait and try again. Jobs we had
                    # claimed come back to us or to another worker when their lease expires.
                    log.error("worker %s: run failed (%s); retrying", self.name, _kind(exc))
                    busy = False
                if not busy:
                    stop.wait(poll_interval)
        if self.mailer is not None:
            self.mailer.close()
        log.info("worker %s stopped", self.name)

    # -- search documents ----------------------------------------------------------------
    def index_search(self, max_batches: int | None = SEARCH_BATCHES) -> int:
        """Rebuild the search documents that writes marked (`services.search`), at most
        `max_batches` batches of them (None: all); how many cases were indexed. Workers
        sharing PostgreSQL take different batches."""
        indexed = search.index_pending(self.db, max_batches=max_batches, skip_locked=True)
        if indexed:
            log.debug("worker %s indexed %d case(s) for search", self.name, indexed)
        return indexed

    def _index_search_quietly(self) -> bool:
        """`index_search()` for the loop; True when more may be waiting."""
        try:
            return self.index_search() >= SEARCH_BATCHES * search.BATCH
        except Exception as exc:
            log.error("worker %s: search indexing failed (%s)", self.name, _kind(exc))
            return False

    # -- mail ----------------------------------------------------------------------------
    def gather_mail(self) -> notification_mail.Gathered | None:
        """A mail round now (`mail.MailSender.gather`); None when mail is off."""
        return None if self.mailer is None else self.mailer.gather(self.name)

    def _gather_mail_quietly(self) -> None:
        """A mail round for the loop, when one is due (CASEWORK_MAIL_INTERVAL)."""
        if self.mailer is None:
            return
        self.mailer.release_idle()
        if not self.mailer.round_due():
            return
        try:
            self.mailer.gather(self.name)
        except Exception as exc:
            log.error("worker %s: mail round failed (%s)", self.name, _kind(exc))

    # -- housekeeping --------------------------------------------------------------------
    def housekeeping(self) -> PruneResult | None:
        """The next slice of housekeeping, if due (`housekeeping.Housekeeping.run`): what
        was pruned; None when no pruning was due (or retention is off)."""
        return self._upkeep.run(self.now())

    def _housekeeping_quietly(self) -> bool:
        """`housekeeping()` for the loop, whose jobs must go on whatever happens to it;
        True when a round is left unfinished (the loop comes straight back)."""
        try:
            self.housekeeping()
        except Exception as exc:
            log.error("worker %s: housekeeping failed (%s)", self.name, _kind(exc))
        return self._upkeep.unfinished

    # -- one job -------------------------------------------------------------------------
    def _run(self, job: ClaimedJob) -> None:
        log.info(
            "job=%s kind=%s case=%s ref=%s attempt=%d started",
            job.id,
            job.kind,
            job.case_id,
            job.ref,
            job.attempt,
        )
        if job.exhausted:
            self._give_up(job, job.attempts, job.last_error or "out of attempts")
            return
        self._finished_with_case = False
        try:
            note = self._execute(job)
        except PermanentFailure as exc:
            self._give_up(job, job.attempt, str(exc))
            return
        except _LeaseLost:
            log.warning("job=%s lost its lease while running; its case change was undone", job.id)
            return
        except Exception as exc:
            self._failed(job, exc)
            return
        if self._finished_with_case or jobs.mark_done(self.db, job, worker=self.name, note=note):
            log.info("job=%s done", job.id)
        else:
            log.warning("job=%s finished after its lease was taken over", job.id)

    def _execute(self, job: ClaimedJob) -> str | None:
        """Do the job's work; a note for the job row when there turned out to be none."""
        if webhooks.is_webhook(job):
            try:
                return self.webhooks.run(job)
            except webhooks.Undeliverable as exc:
                raise PermanentFailure(str(exc)) from None
        if mail.is_mail(job):
            try:
                return mail.send(self.mailer, job, worker=self.name)
            except mail.Undeliverable as exc:
                raise PermanentFailure(str(exc)) from None
        if job.kind == "message":
            self.deliver(job)
            return None
        if job.case_id is None:
            raise PermanentFailure(f"a {job.kind} job needs a case id")
        if job.kind == "timer":
            # Never fire at a time before the job's due date, should the clocks disagree.
            return self._command(job, c.FireDueTimers(), max(self.now(), job.due_at))
        if job.kind == "automated_task":
            return self._automated_task(job, job.case_id)
        if job.kind == "deadline":
            return self._deadline(job, job.case_id)
        raise PermanentFailure(f"unknown job kind {job.kind!r}")

    def _automated_task(self, job: ClaimedJob, case_id: str) -> str | None:
        if not job.ref:
            raise PermanentFailure("an automated_task job needs the plan item instance id")
        name = str(job.payload.get("handler") or "")
        if not name:
            raise PermanentFailure(f"plan item {job.ref} names no handler")
        try:
            handler = self.handlers.get(name)
        except UnknownHandler as exc:
            raise PermanentFailure(str(exc)) from None
        case_file = self._case_file_if_active(case_id, job.ref)
        if case_file is None:
            # Completed, faulted or exited meanwhile (or by us before a crash): don't run
            # the handler again for nothing.
            return f"plan item {job.ref} is no longer active; nothing to do"
        context = HandlerContext(
            case_id=case_id,
            instance_id=job.ref,
            case_file=case_file,
            idempotency_key=job.idempotency_key,
            attempt=job.attempt,
            handler=name,
        )
        outputs = handler(context)
        if not isinstance(outputs, dict):
            raise TypeError(f"handler {name!r} returned {type(outputs).__name__}, not a dict")
        return self._command(job, c.CompletePlanItem(job.ref, outputs), self.now())

    def _deadline(self, job: ClaimedJob, case_id: str) -> str | None:
        if not job.ref:
            raise PermanentFailure("a deadline job needs the plan item instance id")

        try:
            # Never before the job's due time, should the clocks disagree.
            at = max(self.now(), job.due_at)
            note = deadlines.record_if_passed(
                self.db,
                actor=self.actor,
                case_id=case_id,
                instance_id=job.ref,
                now=at,
                on_commit=self._finisher(job),
            )
        except NotFound:
            self._finished_with_case = False
            return f"case {case_id} no longer exists; nothing to do"
        if note is not None:
            log.info("job=%s: %s", job.id, note)
        return note

    def _case_file_if_active(self, case_id: str, instance_id: str) -> Any:
        with self.db() as session:
            state = session.scalar(
                select(PlanItemRow.state).where(
                    PlanItemRow.case_id == case_id, PlanItemRow.instance_id == instance_id
                )
            )
            data = session.scalar(select(Case.data).where(Case.id == case_id))
        if data is None:
            raise PermanentFailure(f"case {case_id} does not exist")
        if state != "active":
            return None
        # A deep copy behind a read-only view: a handler cannot change the case file
        # except through the values it returns.
        return MappingProxyType(copy.deepcopy(dict(data)))

    def _finisher(self, job: ClaimedJob) -> Callable[[Session | Connection], None]:
        """What ends the job in the transaction that changes its case: a crash leaves
        both undone (the job is run again) or both done, never a case change whose job
        would run a second time."""

        def finish(session: Session | Connection) -> None:
            if not jobs.mark_done_in(session, job, worker=self.name):
                raise _LeaseLost
            self._finished_with_case = True

        return finish

    def _command(self, job: ClaimedJob, command: c.Command, now: datetime) -> str | None:
        try:
            run_command(
                self.db,
                actor=self.actor,
                case_id=job.case_id or "",
                command=command,
                now=now,
                on_commit=self._finisher(job),
            )
        except Refused as exc:
            self._finished_with_case = False
            if job.kind == "automated_task" and self._still_active(job):
                raise  # the task is there but refused the outputs: a real failure
            # The case moved on (task done, case closed or suspended): nothing to do.
            return f"nothing to do: {exc}"
        except NotFound:
            return f"case {job.case_id} no longer exists; nothing to do"
        return None

    def _still_active(self, job: ClaimedJob) -> bool:
        with self.db() as session:
            state = session.scalar(
                select(PlanItemRow.state).where(
                    PlanItemRow.case_id == job.case_id, PlanItemRow.instance_id == job.ref
                )
            )
        return state == "active"

    # -- failures ------------------------------------------------------------------------
    def _failed(self, job: ClaimedJob, exc: Exception) -> None:
        attempts = job.attempt
        error = f"attempt {attempts}: {type(exc).__name__}: {exc}"
        if attempts >= job.max_attempts:
            self._give_up(job, attempts, error)
            return
        due_at = self.now() + self.retry.delay(attempts)
        log.warning(
            "job=%s attempt=%d failed (%s); retry at %s",
            job.id,
            attempts,
            _kind(exc),
            due_at.isoformat(),
        )
        jobs.schedule_retry(
            self.db, job, worker=self.name, attempts=attempts, due_at=due_at, error=error
        )

    def _give_up(self, job: ClaimedJob, attempts: int, error: str) -> None:
        """Fail the job for good; an automated task's plan item becomes `failed` too."""
        if job.kind == "automated_task" and job.case_id and job.ref:
            reason = f"gave up after {attempts} attempt(s): {jobs.shown_error(error)}"
            try:
                run_command(
                    self.db,
                    actor=self.actor,
                    case_id=job.case_id,
                    command=c.FaultPlanItem(job.ref, reason),
                    now=self.now(),
                )
            except (Refused, NotFound):
                pass  # no longer active (or gone): nothing left to mark on the case
            except Exception as exc:
                # Could not record the failure on the case (e.g. the database hiccupped):
                # keep the job pending; being out of attempts, it comes straight back here.
                log.error("job=%s could not fault plan item %s (%s)", job.id, job.ref, _kind(exc))
                jobs.schedule_retry(
                    self.db,
                    job,
                    worker=self.name,
                    attempts=attempts,
                    due_at=self.now() + self.retry.base,
                    error=error,
                )
                return
        if webhooks.is_webhook(job):
            self.webhooks.gave_up(job, attempts, error)
        if mail.is_mail(job):
            mail.gave_up(self.db, job)
        jobs.mark_failed(self.db, job, worker=self.name, attempts=attempts, error=error)
        log.error("job=%s kind=%s case=%s failed for good", job.id, job.kind, job.case_id)


class _LeaseLost(Exception):
    """Another worker took the job over: this run's case change must not be kept."""


def _kind(exc: BaseException) -> str:
    # Only the type: exception messages may quote case data, which stays out of logs.
    return type(exc).__name__
