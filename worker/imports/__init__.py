"""Leads in bulk: streaming CSV -> leads and events, with row errors."""
