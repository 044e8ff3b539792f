"""Whether the broker answers, checked without blocking the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 0.5


async def reachable(host: str, port: int) -> bool:
    """Whether a TCP connection opens."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


def first_server(servers: str) -> tuple[str, int]:
    """`host:port` of the first bootstrap server (host 127.0.0.1 when left out)."""
    host, _, port = servers.split(",")[0].strip().rpartition(":")
    return host or "127.0.0.1", int(port)


async def any_reachable(servers: str) -> bool:
    """Whether any of the `host:port[,host:port]` bootstrap servers answers."""
    for server in servers.split(","):
        if await reachable(*first_server(server)):
            return True
    return False
