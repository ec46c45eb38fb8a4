"""What tests/ and bench/ share: the fake-backed harness on a virtual clock and the SMTP sink.

A development tree like tests/ and bench/ (not installed with followup; aiosmtpd, which the sink
needs, is a dev dependency). Neither tests/ nor bench/ imports from the other: both import this.
"""
