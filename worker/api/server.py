"""`serve`: the API under uvicorn, in the foreground (uvicorn handles SIGINT/SIGTERM)."""

from __future__ import annotations

import uvicorn

from worker.api.app import create_app
from worker.runtime import Runtime


def serve(rt: Runtime, *, host: str, port: int, process_inline: bool = False) -> None:
    """Block until the server stops; `process_inline` when no worker runs in this process."""
    app = create_app(rt, process_inline=process_inline)
    config = uvicorn.Config(app, host=host, port=port, log_level="info", proxy_headers=True,
                            server_header=False)
    uvicorn.Server(config).run()
