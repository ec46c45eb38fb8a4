"""Timing and size knobs in one place (leases, batches, backoff), each with why it is what it is."""

from __future__ import annotations

# The inbox watcher (worker/inbox/).
IMAP_TIMEOUT_SECONDS = 30.0  # connect and each command; a silent server is an error, not a hang
IMAP_POLL_SECONDS = 60.0  # between fetches when the server has no IDLE
IMAP_IDLE_SECONDS = 25 * 60.0  # re-issue IDLE before servers drop it (RFC 2177: at most 29 min)
IMAP_IDLE_CHECK_SECONDS = 2.0  # how often an IDLE wait looks at the stop flag
IMAP_FETCH_BATCH = 50  # message sizes and dates asked for at once
INBOX_BACKOFF_FIRST_SECONDS = 5.0  # after a failed fetch; doubles each time
INBOX_BACKOFF_MAX_SECONDS = 300.0  # an unreachable mailbox is retried at least every 5 minutes
