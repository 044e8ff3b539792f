"""Ports a command is about to listen on: checked before anything slow starts.

A taken port is one line naming the port and the option that changes it, rather than a
server that fails after the model loaded (or, started as a child, fails unseen).
"""

from __future__ import annotations

import errno
import logging
import socket

from core.errors import ConflictError, InputError

logger = logging.getLogger(__name__)


class PortTakenError(ConflictError):
    """Another process listens on the port asked for."""


def claim_port(host: str, port: int, option: str) -> int:
    """`port` when it is free on `host` (0: a free one, picked now), else one line naming the
    port and `option`, the command-line option that chooses the port.

    Bound with SO_REUSEADDR, as uvicorn binds: a port in TIME_WAIT is free to it, one that
    another process listens on is not. A port picked for 0 could be taken again before the
    server binds it; the server then fails, and its parent sees it exit.
    """
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except socket.gaierror as exc:
        raise InputError(f"cannot listen on {host}: unknown host") from exc
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortTakenError(
                    f"port {port} is taken on {host}: pass {option} with another port, or "
                    f"{option} 0 to pick a free one"
                ) from exc
            raise InputError(f"cannot listen on {host}:{port} ({exc.strerror})") from exc
        return int(sock.getsockname()[1])
