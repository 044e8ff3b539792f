"""A backtest as a plain function: load, replay, score, write the report, log it to MLflow."""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

import mlflow

from backtest.engines import Progress, Replay, run_local, run_stream
from backtest.report import OVERALL, build_report, scored_frame, write_outputs
from core.config import Settings
from core.errors import InputError
from model import registry
from model.bundle import ModelBundle
from model.evaluation import history_start, window_start, windows_in_range
from model.predictor import Predictor
from producers.publish import ticks_in_order
from producers.sources import PriceData, load_prices, parse_source
from streams.pipeline import TickerState

Say = Callable[[str], None]
EXPERIMENT_SUFFIX = "-backtests"


@dataclass(frozen=True)
class BacktestRequest:
    source: str
    tickers: list[str]
    start: date
    end: date
    model: str | None = None  # alias or version; default: the champion (synthetic: its alias)
    engine: Literal["stream", "local"] = "stream"
    retrain_every: int | None = None
    out: Path | None = None


def walk_forward(
    data: PriceData,
    ticks: list,
    request: BacktestRequest,
    settings: Settings,
    say: Say,
    progress: Progress | None,
) -> tuple[Replay, list[str]]:
    """Retrain every N trading days on all data before the block; the windows carry over."""
    from model.training import train  # torch and Lightning: only when retraining

    days = sorted({t.date for t in ticks if request.start <= t.date <= request.end})
    starts = days[:: request.retrain_every]
    states: dict[str, TickerState] = {}
    replay, versions, offset = Replay(), [], 0
    for k, block_start in enumerate(starts):
        block_end = starts[k + 1] if k + 1 < len(starts) else None
        history = PriceData(
            data.source,
            data.kind,
            {t: f[f["date"].dt.date < block_start] for t, f in data.frames.items()},
            data.reports,
        )
        result = train(history, settings, promote=False, progress=False)
        versions.append(result.model_version)
        say(
            f"retrained for {block_start}: {result.model_name} v{result.model_version} "
            f"(trained on data before {block_start})"
        )
        predictor = Predictor.load(settings, result.model_version)
        block = [
            t
            for t in ticks
            if (k == 0 or t.date >= block_start) and (block_end is None or t.date < block_end)
        ]
        part = run_local(block, predictor.forecaster, settings, states, first_offset=offset)
        offset += len(block)
        replay.forecasts += part.forecasts
        replay.scores += part.scores
        replay.alerts += part.alerts
        replay.seconds += part.seconds
        if progress:
            progress(k + 1, len(starts))
    return replay, versions


def _locations(bundle: ModelBundle, data: PriceData, request: BacktestRequest) -> dict:
    """The network's own location for each window of the range (the unshrunk forecast).

    The replayed messages carry only the shipped point, so the network runs once more, alone:
    no drift, no intervals."""
    windows = windows_in_range(data, bundle.window, request.start, request.end)
    if not len(windows):
        return {}
    location = bundle.predict_distribution(windows.closes, windows.bars).location
    return {
        (str(t), d.astype(date)): loc
        for t, d, loc in zip(windows.ticker, windows.as_of, location, strict=True)
    }


def run_backtest(
    settings: Settings, request: BacktestRequest, say: Say, progress: Progress | None = None
) -> dict:
    if request.end < request.start:
        raise InputError(f"end {request.end} is before start {request.start}")
    if request.retrain_every is not None and request.engine != "local":
        raise InputError("--retrain-every runs on the local engine (add --engine local)")
    # The served model's window decides how much history fills the first windows; the
    # interval baselines fit on a longer history before the start.
    synthetic = parse_source(request.source).kind == "synthetic"
    predictor = (
        None
        if request.retrain_every
        else Predictor.load(settings, request.model, synthetic=synthetic)
    )
    window = predictor.window if predictor else settings.model.window
    replay_from = window_start(request.start, window)
    first = history_start(request.start, window, settings.data.baseline_history)
    data = load_prices(request.source, request.tickers, settings.data, first, request.end)
    recent = {t: f[f["date"].dt.date >= replay_from] for t, f in data.frames.items()}
    ticks = ticks_in_order(recent, data.source)
    versions: list[str] = []
    locations, shrink = {}, None
    if predictor is None:
        replay, versions = walk_forward(data, ticks, request, settings, say, progress)
        model = f"walk-forward every {request.retrain_every} days: v{', v'.join(versions)}"
    else:
        model = f"{predictor.name} v{predictor.version}"
        engine = run_stream if request.engine == "stream" else run_local
        replay = engine(ticks, predictor.forecaster, settings, progress=progress)
        locations = _locations(predictor.bundle, data, request)
        shrink = predictor.bundle.calibration.shrink if predictor.bundle.calibration else None
    rows = scored_frame(replay.forecasts, data.frames, request.start, request.end, locations)
    alerts = sorted(replay.alerts, key=lambda a: (a.as_of, a.ticker))
    meta = {
        "engine": request.engine,
        "source": data.source,
        "synthetic": data.synthetic,
        "tickers": list(data.frames),
        "start": str(request.start),
        "end": str(request.end),
        "model": model,
        "trained_on": (
            predictor.trained_on.model_dump(mode="json")
            if predictor is not None and predictor.trained_on is not None
            else None
        ),
        "interval_method": "aci",
        "retrains": len(versions),
        "replay_seconds": replay.seconds,
        "forecasts": len(replay.forecasts),
        "scores": len(replay.scores),
        "repeats_dropped": replay.repeats,
    }
    report = build_report(rows, alerts, meta, data.frames, shrink)
    _log(settings, request, report, rows, alerts)
    return report


def _log(settings: Settings, request: BacktestRequest, report: dict, rows, alerts) -> None:
    """Write the files (into --out, or a temporary folder) and log them as an MLflow run."""
    experiment = settings.mlflow.experiment + EXPERIMENT_SUFFIX
    with (
        registry.experiment(settings.mlflow, experiment),
        tempfile.TemporaryDirectory() as tmp,
        mlflow.start_run(
            run_name=f"backtest {report['start']}..{report['end']}",
            tags={"synthetic": registry.flag(report["synthetic"])},
        ) as run,
    ):
        out = request.out or Path(tmp)
        paths = write_outputs(report, rows, alerts, out)
        mlflow.log_params(
            {k: report[k] for k in ("engine", "source", "start", "end", "model", "retrains")}
            | {"tickers": ",".join(report["tickers"])}
        )
        overall = report["metrics"][OVERALL]
        figures = {k: v for k, v in overall.items() if isinstance(v, (int, float))}
        for name, baseline in overall["baselines"].items():
            figures.update({f"{k}_{name}": v for k, v in baseline.items()})
        mlflow.log_metrics({k: float(v) for k, v in figures.items() if math.isfinite(v)})
        for path in paths:
            mlflow.log_artifact(str(path))
        report["mlflow_run_id"] = run.info.run_id
        report["out"] = str(request.out) if request.out else None
