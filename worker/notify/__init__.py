"""WHERE NOTIFICATIONS GO OUT: SLA alerts to people (email, Slack) and signed webhooks to systems.

Both are outboxes in the database, written in the transaction of the thing that happened and
delivered by the notifier loop (loop.py) on its own threads, so a slow receiver never slows
sending.
"""
