"""A backtest as a plain function: load, replay, score, write the report, log it to MLflow."""

from __future__ import annotations

import contextlib
import logging
import math
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

import pandas as pd

from backtest.engines import LocationRecorder, Progress, Replay, StreamRun, run_local
from backtest.report import (
    OVERALL,
    build_report,
    expected_splits,
    scored_frame,
    write_outputs,
)
from core.collector import collector_paused
from core.config import Settings
from core.errors import InputError
from model import registry, tracking_start
from model.baselines import GARCH_FITS, GarchFits, garch_prefit
from model.bundle import ModelBundle
from model.evaluation import history_start, window_start, windows_in_range
from model.predictor import Predictor
from model.tracking import RunRecord, Tracking, model_ref
from producers.publish import ticks_in_order
from producers.sources import PriceData, load_prices
from streams.pipeline import TickerState

Say = Callable[[str], None]
logger = logging.getLogger(__name__)
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
    plots: bool | None = None  # None: for at most backtest.max_plots tickers


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
        part = run_local(
            block, predictor.forecaster, settings, states, first_offset=offset, scores=False
        )
        offset += len(block)
        replay.forecasts += part.forecasts
        replay.alerts += part.alerts
        replay.scored += part.scored  # counted, not kept (`scores=False`)
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
    settings: Settings,
    request: BacktestRequest,
    say: Say,
    progress: Progress | None = None,
    tracking: Tracking | None = None,
) -> dict:
    """The backtest's report, logged as an MLflow run. `tracking`: the MLflow child the caller
    started for this request (`Tracking(settings, model_ref(...))`) before its own imports;
    one is started here otherwise."""
    tracking_start.imports_done()  # the collector, paused for the CLI's imports
    if request.end < request.start:
        raise InputError(f"end {request.end} is before start {request.start}")
    if request.retrain_every is not None and request.engine != "local":
        raise InputError("--retrain-every runs on the local engine (add --engine local)")
    with contextlib.ExitStack() as stack:
        if tracking is None:
            ref = model_ref(settings, request.source, request.model, request.retrain_every)
            tracking = stack.enter_context(Tracking(settings, ref))
        staging = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        job = Job(settings, request, say, progress, tracking)
        report, files = _confirmed_replay(job, staging)
        _log(settings, request, report, files, tracking)
    return report


Scored = tuple[dict, pd.DataFrame, list]
Written = tuple[dict, list[Path]]  # the report, and its files (report.json, .md, PNGs)


@dataclass(frozen=True)
class Job:
    """One backtest request and what runs it: its settings, where it reports, and its MLflow
    child."""

    settings: Settings
    request: BacktestRequest
    say: Say
    progress: Progress | None
    tracking: Tracking


def _written(job: Job, staging: Path, folder: Path | None = None) -> Written:
    """The report, its files written in a folder of their own under `staging`.

    The replay leaves millions of objects (its messages and states) until the report is
    built: with the collector back on, its full passes scanned every one of them (7.0 s a
    pass at 1,000 tickers, 6.3 million objects). Paused until then, they go by reference
    counting as the replay returns. Retraining, whose libraries make cycles, runs with the
    collector on."""
    paused = job.request.retrain_every is None
    with collector_paused() if paused else contextlib.nullcontext():
        report, rows, alerts = _replay_and_score(job, folder)
    attempt = Path(tempfile.mkdtemp(dir=staging))
    return report, write_outputs(report, rows, alerts, attempt, report["plots"])


def _confirmed_replay(job: Job, staging: Path) -> Written:
    """The report of the version the registry names, the local engine starting on the one it
    named last time (`Tracking.guess`): the MLflow child takes longer to import MLflow and
    read the registry than a ticker's whole backtest. Its answer is checked before the
    figures are used, and the files (PNGs included) are drawn in `staging` while it comes;
    a version that moved in between is replayed again."""
    tracking = job.tracking
    guess = tracking.guess() if job.request.engine == "local" else None
    if guess is not None:
        folder, run_id = guess
        try:
            written = _written(job, staging, folder)
        except Exception:
            if tracking.confirms(folder, run_id):
                raise  # the registry's own version fails the same way
        else:
            if tracking.confirms(folder, run_id):
                return written
        logger.info("%r names another version now: replaying again on it", tracking.ref)
    return _written(job, staging)


def _replay_and_score(job: Job, folder: Path | None = None) -> Scored:
    """`folder`: the cached version to serve; None: the one the registry names now."""
    settings, request, say, progress, tracking = (
        job.settings,
        job.request,
        job.say,
        job.progress,
        job.tracking,
    )
    ref = tracking.ref  # the model it fetches; None: walk-forward trains its own
    fits = GarchFits(settings.data.cache_dir / GARCH_FITS)
    recorder: LocationRecorder | None = None
    with contextlib.ExitStack() as stack:
        # The stream engine's broker and worker start first: their start-up overlaps the
        # model's load and the data's, and the worker then waits for the version loaded here.
        stream = (
            stack.enter_context(StreamRun(settings, ref))
            if request.engine == "stream" and ref is not None
            else None
        )
        predictor = (
            None
            if ref is None
            else Predictor.from_cache(settings, folder or tracking.model_folder())
        )
        # The served model's window decides how much history fills the first windows; the
        # interval baselines fit on a longer history before the start.
        window = predictor.window if predictor else settings.model.window
        replay_from = window_start(request.start, window)
        first = history_start(request.start, window, settings.data.baseline_history)
        data = load_prices(request.source, request.tickers, settings.data, first, request.end)
        recent = {t: f[f["date"].dt.date >= replay_from] for t, f in data.frames.items()}
        ticks = ticks_in_order(recent, data.source)
        if predictor is not None:
            # The report's GARCH baselines fit in other processes while the replay runs.
            splits = expected_splits(recent, data.frames, request.start, request.end, window)
            stack.enter_context(garch_prefit(splits, fits, settings.backtest.fit_processes))
        if stream is not None and predictor is not None:
            stream.serve(predictor.version)
            replay = stream.replay(ticks, predictor.forecaster, progress)
        elif predictor is not None:
            recorder = LocationRecorder(predictor.forecaster)
            replay = run_local(
                ticks,
                recorder.forecaster(),
                settings,
                progress=progress,
                processes=settings.backtest.replay_processes,
                scores=False,  # the report counts them: `Replay.scored`
            )
    versions: list[str] = []
    locations: dict[tuple[str, date], float] = {}
    shrink = None
    if predictor is None:
        replay, versions = walk_forward(data, ticks, request, settings, say, progress)
        model = f"walk-forward every {request.retrain_every} days: v{', v'.join(versions)}"
    else:
        model = f"{predictor.name} v{predictor.version}"
        # The local replay kept each forecast's location; the stream's messages do not carry it.
        if recorder is not None:
            locations = recorder.locations
        else:
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
        "scores": replay.scored,
        "repeats_dropped": replay.repeats,
    }
    processes = settings.backtest.fit_processes
    report = build_report(rows, alerts, meta, data.frames, shrink, fits, processes)
    report["plots"] = _plots(settings, request, len(data.frames), say)
    return report, rows, alerts


def _plots(settings: Settings, request: BacktestRequest, tickers: int, say: Say) -> bool:
    """Whether to draw the PNGs: as asked, else for up to `backtest.max_plots` tickers, since
    each ticker's three charts cost about 0.4 s, more than its replay and figures."""
    if request.plots is not None:
        return request.plots
    if tickers <= settings.backtest.max_plots:
        return True
    say(
        f"no PNGs: {tickers} tickers is more than TICKCAST_BACKTEST__MAX_PLOTS "
        f"({settings.backtest.max_plots}); pass --plots to draw them"
    )
    return False


def _log(
    settings: Settings,
    request: BacktestRequest,
    report: dict,
    files: list[Path],
    tracking: Tracking,
) -> None:
    """Copy the files into --out, if asked, and log them as an MLflow run."""
    overall = report["metrics"][OVERALL]
    figures = {k: v for k, v in overall.items() if isinstance(v, (int, float))}
    for name, baseline in overall["baselines"].items():
        figures.update({f"{k}_{name}": v for k, v in baseline.items()})
    if request.out:
        request.out.mkdir(parents=True, exist_ok=True)
        for path in files:
            shutil.copyfile(path, request.out / path.name)
    record = RunRecord(
        experiment=settings.mlflow.experiment + EXPERIMENT_SUFFIX,
        run_name=f"backtest {report['start']}..{report['end']}",
        tags={"synthetic": registry.flag(report["synthetic"])},
        params={
            k: str(report[k]) for k in ("engine", "source", "start", "end", "model", "retrains")
        }
        | {"tickers": ",".join(report["tickers"])},
        metrics={k: float(v) for k, v in figures.items() if math.isfinite(v)},
        files=files,
    )
    report["mlflow_run_id"] = tracking.log(record)
    report["out"] = str(request.out) if request.out else None
