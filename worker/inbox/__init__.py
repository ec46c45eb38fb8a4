"""What comes back: read the mailboxes (and the ESPs' webhooks), classify each message, and act
through the same events as every other face (SPEC section 13)."""
