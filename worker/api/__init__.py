"""The HTTP API (SPEC section 10): thin FastAPI routes over the same use-cases as the CLI."""
