"""`tickcast api`: the HTTP sidecar."""

from __future__ import annotations

from core.logs import setup_logging
from core.ports import claim_port
from tickcast.cli.common import (
    API_PORT_OPTION,
    ApiHost,
    ApiPort,
    Verbose,
    note,
    settings,
    user_errors,
)


def api(api_host: ApiHost = None, api_port: ApiPort = None, verbose: Verbose = False) -> None:
    """Serve /predict, /train, /model/info, /forecasts and /dashboard with one uvicorn worker."""
    import uvicorn

    from api.main import create_app

    cfg = settings(verbose)
    host = api_host or cfg.api.host
    wanted = cfg.api.port if api_port is None else api_port
    with user_errors(verbose):  # a taken port is one line, before the model loads
        port = claim_port(host, wanted, API_PORT_OPTION)
    if wanted == 0:
        note(f"API on http://{host}:{port} (a free port, picked for {API_PORT_OPTION} 0)")
    # Models come from the cache (model.fetch) and /train trains in a child process: this
    # process imports neither MLflow nor Lightning.
    setup_logging(verbose)
    uvicorn.run(
        create_app(cfg),
        host=host,
        port=port,
        log_level="info" if verbose else "warning",
        access_log=verbose,
    )
