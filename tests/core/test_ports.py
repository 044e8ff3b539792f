"""A port a command will listen on: free, picked, or one line naming it and the option."""

from __future__ import annotations

import socket

import pytest

from core.ports import PortTakenError, claim_port


def test_a_taken_port_names_itself_and_the_option() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        with pytest.raises(PortTakenError) as caught:
            claim_port("127.0.0.1", port, "--api-port")
    assert str(caught.value) == (
        f"port {port} is taken on 127.0.0.1: pass --api-port with another port, or "
        "--api-port 0 to pick a free one"
    )


def test_port_zero_picks_a_free_port_and_a_free_port_is_kept() -> None:
    picked = claim_port("127.0.0.1", 0, "--api-port")
    assert picked > 0
    assert claim_port("127.0.0.1", picked, "--api-port") == picked
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", picked))  # nothing holds it after the check
