"""Every tunable of the engine in one place: leases, batch sizes, attempts, backoff, time
limits. Change a value here, not where it is used; each says what it trades."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

# Leases: a claimed touch whose lease ran out is re-driven from the database (same Message-ID).
# A killed worker's touches come back within a lease (plus one tick), so leases are short; a
# live send is never taken over, because the send lease outlasts the longest send (see below).
QUEUED_LEASE = timedelta(seconds=60)  # a queued id not picked up by a worker by then is re-driven
SENDING_LEASE = timedelta(seconds=90)  # > ACTOR_TIME_LIMIT + one SMTP timeout + the check
MAX_REDRIVES = 3  # a touch whose worker died or timed out mid-send this often ends `failed`

# Batches: how many rows one transaction touches, so no write lock is held for long.
CLAIM_BATCH = 500  # due touches claimed per scheduler query (the tick loops until none are due)
# Touch ids one message carries when the backlog is deep: claimed in one transaction at the start
# of the message and recorded in one at its end (worker/flow/delivery.py), so a deep backlog
# costs two write transactions per TOUCH_BATCH touches instead of two per touch. More: fewer
# transactions, but more sends re-sent (same Message-ID) when a worker is killed mid-message.
# A message's own cost (two transactions, ~10 statements) is ~7.6 ms of CPU, ~0.4 ms a touch at
# 20. Send bench, quiet 2-core machine (issue 15, sixth pass): SQLite 0.29 of the SMTP limit at
# 10, 0.37 at 20; PostgreSQL 0.26 -> 0.29.
TOUCH_BATCH = 20
# ... i.e. one claim found this many due, or it filled its limit (a backlog); the claim's ids then
# go in as few messages as TOUCH_BATCH allows, as even as can be. Lower: more claims batched
# (about half the CPU a touch), the last of a message waits for the sends before it (~5 ms
# each); higher: steady-rate claims between ticks (every 0.1 s) under 10x this a second go one
# id a message (at 40, the half-rate phase of the send bench did, and missed its p99: 3.6 s).
# Small bench, half-rate phase: at 100 p99 2.4-5.3 s on loaded cores, at 20 0.4-1.1 s.
# A render that never returns strands its batch-mates for one lease (a Redis worker never emits
# process_boot, so its time limit never fires); ids re-driven after a lost send then go one a
# message whatever the claim (scheduler_loop.enqueue_claimed): batched again they would share
# the hanging one's message each time they came back, until all were abandoned (fault suite,
# poison scenario, lost 17 when that could happen).
TOUCH_BATCH_DEEP = 20
# A batch message renders all its emails first (a render that hangs then holds no sent touch),
# then starts no send once it has run this share of the actor's time limit (the rest is handed
# back, due again at once; its first send always starts): the rest of the limit is left for the
# last send and the record, so the limit never cuts a sent touch's record. Lower: more touches
# handed back and claimed again on a slow SMTP server; higher: less room for that last send.
BATCH_SEND_SHARE = 0.5
# ... and records its sends so far whenever this long passed since its last record (at most a
# quarter of the time limit): a batch on a fast server records once, on a slow one after every
# send. Lower: more record transactions a batch; higher: more sent touches a kill -9 re-sends.
BATCH_RECORD_AFTER = timedelta(seconds=0.25)
# Messages a worker process holds per thread (as dramatiq): one running, one ready, so a thread
# never waits on Redis between batches; 4 threads hold 80 ids, each claimed only when its message
# starts (its sending lease counts from then), so ids that wait here are still `queued`.
WORKER_PREFETCH_PER_THREAD = 2
# ... or until this many are queued or sending (FOLLOWUP_MAX_IN_FLIGHT): size it to what the
# workers send within QUEUED_LEASE (processes x threads x sends per second x 60 s), so a backlog
# drains without piling ids up in Redis, where they would outlive their lease and be re-driven.
MAX_IN_FLIGHT = 500
# Between two ticks the scheduler claims on its own, no more often than this: when a touch falls
# due (so due-to-queued waits ~0.1 s, not a tick), and while the cap holds due touches back (the
# cap bounds what waits in Redis; a whole tick's wait would bound the send rate too).
CLAIM_GAP_SECONDS = 0.1
# ... and with nothing due sooner, it looks for due touches this often (one index probe): what
# another process made due (an API event's first touch, an import) waits this long, not a tick.
DUE_LOOK_SECONDS = 0.25
SKIP_BATCH = 500  # expired manual tasks skipped per tick
DUE_CHECK_BATCH = 500  # SLA deadlines decided per tick
STALE_EVENT_BATCH = 200  # lost events re-applied per tick, each in its own savepoint
STALE_EVENT_MAX_FAILURES = 3  # an event whose meaning raised this often is `dead` (status)
EVENT_APPLY_BATCH = 500  # events `followup api` alone applies per transaction (its applier)
IMPORT_CHUNK_ROWS = 1000  # CSV rows upserted per transaction
IMPORT_ENROLL_CHUNK_ROWS = 500  # ... when also enrolling (5 rows a lead; 200 cost 20% more CPU)
# An import that created or enrolled this many refreshes PostgreSQL's planner statistics of the
# tables it grew (ANALYZE; autovacuum would, a while later): until then the first sends after a
# large import are planned for the tables' old sizes (send bench, issue 15: a seq scan of `lead`
# in every claim read, 0.84 -> ~0.1 ms a message once analyzed; the scheduler's claim then scans
# the bench's 10,000 touches, every one waiting, so the bench's rate did not move). SQLite keeps
# its plans without statistics (ANALYZE there would change the report's and claim's indexes).
IMPORT_ANALYZE_ROWS = 1000
LOG_READ_BATCH = 5000  # compliance log entries read at a time when replaying it (audit)
LEAD_CHECK_SAMPLE = 1000  # leads per sequence `sequences check --leads` renders (more: at random)
LEAD_CHECK_IDS_PER_QUERY = 500  # ids in one IN (...) while it reads their touches and leads

# Retries of transient send failures (4xx, connection): exponential backoff, jittered, capped
# (worker/flow/backoff.py), so touches failed together by an outage do not come back together.
MAX_ATTEMPTS = 12  # then the touch fails for good ("gave up after 12 attempts")
RETRY_BASE = timedelta(seconds=30)  # the first retry's delay, doubled each attempt, each 1-2x
MAX_BACKOFF = timedelta(hours=1)  # the longest delay between two attempts (past it: 50-100%)

# Time limits.
ACTOR_TIME_LIMIT = timedelta(seconds=60)  # dramatiq interrupts an actor that runs longer ...
TIME_LIMIT_CHECK = timedelta(seconds=1)  # ... looking this often (its TimeLimit interval) ...
SMTP_TIMEOUT_SECONDS = 20.0  # ... once the socket call it is blocked in returns (connect, command)
STALE_EVENT_AFTER = timedelta(minutes=1)  # an accepted event nobody applied by then is redone
EVENT_APPLIER_STOP = timedelta(seconds=20)  # a stopping API applies what it stored so far
EVENT_APPLY_GATHER = timedelta(seconds=1)  # ... gathered at most this long from the first one
EVENT_APPLY_QUIET = timedelta(seconds=0.05)  # ... and no longer once none came for this long
SMTP_IDLE_NOOP_SECONDS = 30.0  # a connection idle longer is checked with NOOP before reuse
HEALTH_TIMEOUT_SECONDS = 2.0  # Redis health checks answer or fail, never hang
SQLITE_BUSY_TIMEOUT = timedelta(seconds=30)  # how long a SQLite writer waits for the lock
# A SQLite commit that leaves the WAL longer than this (pages of 4 KiB) copies it back into the
# database (a checkpoint) before it returns. The scheduler checkpoints after each tick, off the
# claim's path (db.checkpoint), so this bounds the WAL where none runs or writers outpace a tick.
# SQLite's default, 1,000, made each 500-row claim's commit pay one (a third of the claim).
# Higher: a longer WAL for readers to search and for recovery after a crash to replay.
SQLITE_AUTOCHECKPOINT_PAGES = 10_000
SQLITE_WAL_SIZE_LIMIT = 64 * 1024 * 1024  # bytes a WAL file is cut back to once checkpointed
DATABASE_POOL_SIZE = 10  # PostgreSQL connections per process (and as many more on overflow)
SCHEDULER_STUCK_AFTER = timedelta(minutes=1)  # no pass for this long (or 10 ticks): not ready
PROBE_TIMEOUT_SECONDS = 4.0  # the container healthcheck's GET of /readyz


# Outbound webhooks (worker/notify/webhook_delivery.py).
WEBHOOK_TIMEOUT_SECONDS = 10.0  # per connect/read/write; a slower receiver counts as failed
WEBHOOK_RETRY_FOR = timedelta(hours=24)  # from the first attempt; then the delivery is dead
WEBHOOK_FIRST_RETRY = timedelta(seconds=30)  # backoff doubles from here, jittered to 50-100%
WEBHOOK_MAX_BACKOFF = timedelta(hours=1)  # the longest wait between two attempts
WEBHOOK_LEASE = timedelta(minutes=2)  # a claimed delivery not recorded by then is retried
WEBHOOK_CLAIM_BATCH = 200  # due deliveries looked at per notifier pass

# The notifier (worker/notify/loop.py): alerts and webhooks on their own bounded threads.
NOTIFIER_THREADS = 4  # concurrent deliveries; bounded so a slow receiver cannot pile up
IN_FLIGHT_PER_WEBHOOK = 2  # one slow webhook holds at most this many threads

# SLA alerts (worker/notify/alert_delivery.py) and escalation (worker/flow/escalation.py).
ALERT_LEASE = timedelta(minutes=3)  # a claimed alert not recorded by then is sent again
ALERT_MAX_ATTEMPTS = 8  # then the alert fails for good, with the reason
ALERT_FIRST_RETRY = timedelta(minutes=1)  # doubled each attempt
ALERT_BATCH = 200  # due alerts claimed per notifier pass
ESCALATION_BATCH = 500  # enrollments whose alert check is due, per tick
REASSIGN_BATCH = 200  # breached leads moved to the pool, per tick
# The inbox watcher (worker/inbox/).
IMAP_TIMEOUT_SECONDS = 30.0  # connect and each command; a silent server is an error, not a hang
IMAP_POLL_SECONDS = 60.0  # between fetches when the server has no IDLE
IMAP_IDLE_SECONDS = 25 * 60.0  # re-issue IDLE before servers drop it (RFC 2177: at most 29 min)
IMAP_IDLE_CHECK_SECONDS = 2.0  # how often an IDLE wait looks at the stop flag
IMAP_FETCH_BATCH = 50  # message sizes and dates asked for at once
INBOX_BACKOFF_FIRST_SECONDS = 5.0  # after a failed fetch; doubles each time
INBOX_BACKOFF_MAX_SECONDS = 300.0  # an unreachable mailbox is retried at least every 5 minutes
HOLD_RELEASE_BATCH = 500  # auto-reply holds ended per tick


# Stopping `followup worker` (SIGTERM): sends in flight finish, queued touches not started go back
# to the database (due again); what is still sending after GRACEFUL_STOP is left to its lease.
GRACEFUL_STOP = timedelta(seconds=30)
DUPLICATE_SIGNAL_WINDOW = timedelta(seconds=2)  # a signal this soon after the first is the same

# The dramatiq Redis broker: a worker silent this long is dead and its unacked messages go back
# to the queue (the database re-drives them anyway, after their lease); dead letters kept a week.
BROKER_HEARTBEAT_TIMEOUT = timedelta(seconds=30)
BROKER_DEAD_MESSAGE_TTL = timedelta(days=7)


class LeaseError(ValueError):
    """The sending lease would not outlast the longest send: a live send could be taken over."""


@dataclass(frozen=True)
class SendBounds:
    """How long one send may take, against the lease that protects it from a second worker.

    The actor is interrupted at `time_limit`, noticed within `check`, and a thread blocked in a
    socket call sees the interrupt only when the call returns (`smtp_timeout` at most): the send
    lease must outlast the sum, so no second worker ever takes a touch that is still sending.
    """

    queued_lease: timedelta
    sending_lease: timedelta
    time_limit: timedelta
    check: timedelta
    smtp_timeout: float

    @property
    def longest_send(self) -> timedelta:
        return self.time_limit + self.check + timedelta(seconds=self.smtp_timeout)

    def checked(self) -> SendBounds:
        if self.longest_send >= self.sending_lease:
            raise LeaseError(
                f"the sending lease ({self.sending_lease.total_seconds():g}s) must outlast the "
                f"longest send: time limit {self.time_limit.total_seconds():g}s + check "
                f"{self.check.total_seconds():g}s + SMTP timeout {self.smtp_timeout:g}s"
            )
        return self


DEFAULT_BOUNDS = SendBounds(
    QUEUED_LEASE, SENDING_LEASE, ACTOR_TIME_LIMIT, TIME_LIMIT_CHECK, SMTP_TIMEOUT_SECONDS
).checked()  # at import: a misconfigured default never starts


def send_bounds(override_seconds: float | None) -> SendBounds:
    """FOLLOWUP_LEASE_SECONDS (tests) sets both leases; the time limit, its check and the SMTP
    timeout shrink with it (0.35, 0.1 and 0.25 of it, never above the defaults), so the send
    lease still outlasts the longest send, by 30% of it: a claim answered later than that sends
    nothing (worker/flow/late_claims.py), and a loaded test machine's claims take a while."""
    if not override_seconds:
        return DEFAULT_BOUNDS
    leased = timedelta(seconds=override_seconds)
    return SendBounds(
        queued_lease=leased,
        sending_lease=leased,
        time_limit=min(ACTOR_TIME_LIMIT, leased * 0.35),
        check=min(TIME_LIMIT_CHECK, leased * 0.1),
        smtp_timeout=min(SMTP_TIMEOUT_SECONDS, override_seconds * 0.25),
    ).checked()


def lease(default: timedelta, override_seconds: float | None) -> timedelta:
    """The queued or sending lease in force (FOLLOWUP_LEASE_SECONDS shortens both, checked)."""
    bounds = send_bounds(override_seconds)
    return default if not override_seconds else bounds.sending_lease


# A/B variants, judged by replies (worker/compliance/variants.py; README "A/B variants").
VARIANT_ALPHA = 0.05  # two-sided significance, split over the comparisons (Bonferroni)
VARIANT_MIN_SENDS = 100  # sends each variant needs before any winner is named ...
VARIANT_MIN_EXPECTED = 5  # ... and replies and non-replies expected per variant (n*p, n*(1-p))

# Guardrails (worker/flow/guardrails.py): the scheduler loop recounts at once after a new bounce
# or complaint, else this often (a verdict also moves as sends pass min_sends or leave the window).
GUARDRAIL_RECOUNT = timedelta(minutes=1)

# API keys: a live key is remembered per process this long (a request then skips a read
# transaction); a revoke in another process takes effect within it, in this one at once.
API_KEY_CACHE = timedelta(seconds=2)

# The compliance report by day, week or month reads each period's range of the enrolment-time
# index as one arm of a UNION ALL; this many arms a statement (SQLite allows 500 a compound).
REPORT_PERIODS_PER_STATEMENT = 200
