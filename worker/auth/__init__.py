"""Who may do what: API keys and signed tokens (unsubscribe and dashboard links)."""
