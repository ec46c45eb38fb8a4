"""followup: lead events -> follow-up sequences -> emails -> SLA compliance counts."""

__version__ = "0.1.0"
