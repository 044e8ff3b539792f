"""`tickcast api`: the HTTP sidecar."""

from __future__ import annotations

import typer

from core.logs import setup_logging
from tickcast.cli.common import Verbose, settings


def api(
    host: str = typer.Option(None, help="Bind address (default: 127.0.0.1)."),
    port: int = typer.Option(None, help="Port (default: 8000)."),
    verbose: Verbose = False,
) -> None:
    """Serve /predict, /train, /model/info, /forecasts and /dashboard with one uvicorn worker."""
    import uvicorn

    from api.main import create_app

    setup_logging(verbose, heavy=True)
    cfg = settings(verbose)
    uvicorn.run(
        create_app(cfg),
        host=host or cfg.api.host,
        port=port or cfg.api.port,
        log_level="info" if verbose else "warning",
        access_log=verbose,
    )
