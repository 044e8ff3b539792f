"""`make up`: broker, champion, worker and producer on one machine, stopped cleanly by Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from core import kafka as bus
from core.config import Settings
from core.processes import die_with_parent, interrupt_on_signals, stop
from producers.errors import SourceUnavailable
from producers.publish import publish, ticks_in_order
from producers.sources import PriceData, load_prices
from streams.broker import EmbeddedBroker
from streams.tail import consume, render

Say = Callable[[str], None]


@dataclass
class Children:
    """Child processes, stopped in reverse order of start."""

    processes: list[tuple[str, subprocess.Popen]] = field(default_factory=list)

    def start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
        # Its own process group: Ctrl-C reaches only tickcast, which stops children in order.
        process = subprocess.Popen(
            args, env=env, stdin=subprocess.DEVNULL, preexec_fn=die_with_parent, process_group=0
        )
        self.processes.append((name, process))
        return process

    def stop(self, timeout_s: float = 15.0) -> None:
        """Last started, first stopped: the worker leaves its group while the broker still runs."""
        for name, process in reversed(self.processes):
            stop(process, timeout_s, name)


def load_or_fallback(settings: Settings, source: str, tickers: list[str], say: Say) -> PriceData:
    """Prices from `source`; when Yahoo is out of reach, say so and use synthetic data."""
    try:
        return load_prices(source, tickers, settings.data)
    except SourceUnavailable as exc:
        say(f"[yellow]{exc}[/yellow]")
        say("[yellow]falling back to synthetic data (labelled synthetic everywhere)[/yellow]")
        return load_prices("synthetic", tickers, settings.data)


def ensure_champion(settings: Settings, data: PriceData, say: Say) -> None:
    from model.registry import alias_version, connect
    from model.training import train

    client = connect(settings.mlflow)
    version = alias_version(client, settings.mlflow.model_name, settings.mlflow.champion_alias)
    if version:
        say(f"champion: {settings.mlflow.model_name} v{version}")
        return
    say("no champion yet: training one")
    result = train(data, settings, progress=True)
    say(
        f"trained {result.model_name} v{result.model_version}: test MASE "
        f"{result.metrics['overall'].mase:.4f} ({result.promotion_reason})"
    )


async def show_live(settings: Settings, say: Say) -> None:
    """Print forecasts and drift alerts as a downstream consumer sees them."""

    def printer(kind: str) -> Callable[[dict], None]:
        style = "bold red" if kind == "drift-alerts" else ""
        return lambda message: say(
            f"[{style}]{render(kind, message)}[/{style}]" if style else render(kind, message)
        )

    await asyncio.gather(
        *(
            consume(settings.kafka, kind, False, printer(kind))
            for kind in ("forecasts", "drift-alerts")
        )
    )


async def _run(settings: Settings, data: PriceData, rate: float | None, say: Say) -> None:
    viewer = asyncio.create_task(show_live(settings, say))
    await asyncio.sleep(1.0)  # the viewer subscribes before the first forecast
    ticks = ticks_in_order(data.frames, data.source)
    report = await publish(ticks, settings.kafka, rate)
    say(
        f"published {report.sent} closes ({data.source}); forecasts follow. "
        "Ctrl-C stops everything."
    )
    await viewer


def start_api(children: Children, env: dict[str, str], settings: Settings, say: Say) -> None:
    """The HTTP sidecar, with a fresh bearer token unless one is configured."""
    configured = env.get("TICKCAST_API__TOKEN")
    token = configured or secrets.token_urlsafe(24)
    api_env = {**env, "TICKCAST_API__TOKEN": token}
    children.start("api", [sys.executable, "-m", "tickcast", "api"], api_env)
    base = f"http://{settings.api.host}:{settings.api.port}"
    say(f"API on {base} (docs {base}/docs, dashboard {base}/dashboard)")
    if not configured:
        say(f"API token for this run (shown once): {token}")
    shown = "$TICKCAST_API__TOKEN" if configured else token
    say(
        f"  curl -X POST {base}/train -H 'Authorization: Bearer {shown}' "
        "-H 'Content-Type: application/json' -d '{\"source\": \"synthetic\"}'"
    )


def train_data_env(source: str, env: dict[str, str]) -> dict[str, str]:
    """`--source csv:DIR` lets the API's POST /train read CSV files in DIR (for a file, its
    folder), unless TICKCAST_API__TRAIN_DATA_DIR is set already."""
    kind, _, rest = source.partition(":")
    if kind.strip().lower() != "csv" or "TICKCAST_API__TRAIN_DATA_DIR" in env:
        return {}
    path = Path(rest.partition("?")[0].strip()).expanduser().resolve()
    return {"TICKCAST_API__TRAIN_DATA_DIR": str(path if path.is_dir() else path.parent)}


def up(settings: Settings, source: str, tickers: list[str], rate: float | None, say: Say) -> None:
    """Run the whole pipeline until Ctrl-C or SIGTERM; every child process stops with it."""
    children = Children()
    env = dict(os.environ)
    try:
        with interrupt_on_signals():
            bootstrap = settings.kafka.bootstrap_servers
            if not bootstrap:
                settings.data.dir.mkdir(parents=True, exist_ok=True)
                broker = EmbeddedBroker(
                    port=settings.kafka.embedded_port, log_path=settings.data.dir / "broker.log"
                ).start()
                children.processes.append(("broker", broker.process))
                bootstrap = broker.bootstrap
                say(f"embedded broker (Tansu) on {bootstrap}")
            else:
                say(f"Kafka at {bootstrap}")
                asyncio.run(bus.check_reachable(settings.kafka))  # one line, not a traceback
            settings = settings.with_kafka(bootstrap_servers=bootstrap)
            env["KAFKA_BOOTSTRAP_SERVERS"] = bootstrap
            asyncio.run(bus.ensure_topics(settings.kafka))
            data = load_or_fallback(settings, source, tickers, say)
            ensure_champion(settings, data, say)
            children.start("worker", [sys.executable, "-m", "tickcast", "worker"], env)
            say("worker started")
            start_api(children, {**env, **train_data_env(source, env)}, settings, say)
            asyncio.run(_run(settings, data, rate, say))
    except KeyboardInterrupt:
        say("stopping...")
    finally:
        children.stop()
        say("all stopped")
