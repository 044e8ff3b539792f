"""The GARCH baseline without scipy.signal and scipy.stats, and its fits kept on disk: the
same bits as before, whether a fit is read back or made anew."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import signal, stats

from model import baselines
from model.baselines import GarchFits, _recursion, baseline_forecasts, t_quantiles
from model.intervals import LEVELS


def _returns(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_t(4, n) * 0.02


@pytest.mark.parametrize(("weight", "decay"), [(1.0 - 0.94, 0.94), (1.0, 0.91), (0.3, 0.5)])
def test_the_recursion_is_lfilter_to_the_bit(weight: float, decay: float) -> None:
    inputs = _returns(2000, seed=5) ** 2 + 1e-4
    start = float(np.var(inputs))
    after, _ = signal.lfilter([weight], [1.0, -decay], inputs, zi=[decay * start])
    expected = np.concatenate(([start], after))
    assert np.array_equal(_recursion(inputs, weight, decay, start), expected)


def test_quantiles_are_scipy_stats_to_the_bit() -> None:
    taus = np.asarray(LEVELS)
    for nu in (2.05, 3.7, 5.0, 8.123456789, 30.0, 250.0):
        assert np.array_equal(t_quantiles(taus, nu), stats.t.ppf(taus, nu))
    from scipy import special

    assert np.array_equal(special.ndtri(taus), stats.norm.ppf(taus))


def _same(a: dict, b: dict) -> bool:
    return all(
        np.array_equal(a[k].quantiles, b[k].quantiles) and np.array_equal(a[k].point, b[k].point)
        for k in a
    )


def test_a_kept_fit_gives_the_same_bits_and_skips_arch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    returns, targets = _returns(900, seed=7), np.arange(700, 900)
    fits = GarchFits(tmp_path)
    fresh = baseline_forecasts(returns, 700, targets)  # no cache at all
    first = baseline_forecasts(returns, 700, targets, fits=fits)
    assert len(list(tmp_path.glob("*.json"))) == 1
    assert _same(fresh, first)

    def no_fit(_training: np.ndarray) -> None:
        raise AssertionError("fitted again")

    monkeypatch.setattr(baselines, "_fit_garch", no_fit)
    assert _same(first, baseline_forecasts(returns, 700, targets, fits=fits))


def test_other_prices_or_another_arch_fit_anew(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    returns = _returns(900, seed=8)
    scaled = 100.0 * returns[:700]
    key = GarchFits.key(scaled)
    changed = scaled.copy()
    changed[3] = np.nextafter(changed[3], 1.0)  # one bit of one training return
    assert GarchFits.key(changed) != key
    assert GarchFits.key(scaled[:699]) != key  # another split
    assert GarchFits.key(scaled[:700].copy()) == key
    real = baselines.metadata.version
    monkeypatch.setattr(
        baselines.metadata, "version", lambda name: "0.0.1" if name == "arch" else real(name)
    )
    baselines._fit_versions.cache_clear()
    try:
        assert GarchFits.key(scaled) != key
    finally:
        baselines._fit_versions.cache_clear()


def test_an_unreadable_fit_is_made_again_and_rewritten(tmp_path: Path) -> None:
    returns, targets = _returns(900, seed=9), np.arange(700, 900)
    fits = GarchFits(tmp_path)
    first = baseline_forecasts(returns, 700, targets, names=("garch",), fits=fits)
    [path] = tmp_path.glob("*.json")
    for broken in ("{not json", json.dumps({"mu": 1.0})):
        path.write_text(broken)
        again = baseline_forecasts(returns, 700, targets, names=("garch",), fits=fits)
        assert _same(first, again)
        assert set(json.loads(path.read_text())) == {
            "mu",
            "omega",
            "alpha",
            "beta",
            "nu",
            "backcast",
        }


def test_a_folder_that_cannot_be_written_only_loses_the_cache(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    returns, targets = _returns(900, seed=10), np.arange(700, 900)
    kept = baseline_forecasts(returns, 700, targets, fits=GarchFits(blocked / "fits"))
    assert _same(kept, baseline_forecasts(returns, 700, targets))


def test_fits_made_in_other_processes_are_the_same_bits(tmp_path: Path) -> None:
    """Many missing fits are shared out among processes, then read back by the report."""
    count = 2 * baselines.MIN_FITS_PER_PROCESS
    series = [_returns(800, seed=100 + i) for i in range(count)]
    fits = GarchFits(tmp_path)
    trainings = [(r, 600) for r in series]
    assert baselines.prefit_garch(trainings[:5], fits, processes=2) == 0  # too few to share
    assert baselines.prefit_garch(trainings, fits, processes=2) == count
    assert len(list(tmp_path.glob("*.json"))) == count
    for r in series[:4]:
        kept = baseline_forecasts(r, 600, np.arange(600, 800), names=("garch",), fits=fits)
        here = baseline_forecasts(r, 600, np.arange(600, 800), names=("garch",))
        assert _same(kept, here)
    assert baselines.prefit_garch(trainings, fits, processes=2) == 0  # all kept already


def test_the_baselines_load_neither_arch_nor_scipy_stats_nor_signal_at_import() -> None:
    """arch (and the SciPy it loads, about a second) only when a GARCH fit is not on disk."""
    from tests.probes import loaded_after

    watched = ("arch", "scipy.stats", "scipy.signal", "scipy.optimize")
    assert loaded_after(["model.baselines"], watched) == {"model.baselines": []}


def test_evaluate_keeps_its_garch_fits_and_reports_the_same_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`tickcast evaluate` keeps fits as the backtest does: a second evaluation of the same
    prices fits nothing, and its report is the first one's, as is one without kept fits."""
    from datetime import date

    from core.config import DriftSettings, ForecastSettings
    from model.drift import build_baselines
    from model.evaluation import evaluate
    from model.forecaster import Forecaster
    from model.predictor import Predictor
    from producers.sources import load_prices
    from tests.utils.factories import make_settings, stand_in_bundle

    settings = make_settings(tmp_path)
    data = load_prices(
        "synthetic", ["AAA", "BBB"], settings.data, date(2018, 1, 2), date(2020, 6, 30)
    )
    closes = {t: f["close"].to_numpy()[:300] for t, f in data.frames.items()}
    bundle = stand_in_bundle(60, build_baselines(closes))
    forecaster = Forecaster(bundle, "m", "1", ForecastSettings(), DriftSettings())
    predictor = Predictor(forecaster=forecaster, params={}, metrics={}, tags={})
    span = (date(2020, 1, 2), date(2020, 6, 30))
    fits = GarchFits(tmp_path / "fits")
    plain = evaluate(predictor, data, *span)
    first = evaluate(predictor, data, *span, fits=fits)
    assert len(list((tmp_path / "fits").glob("*.json"))) == 2  # one per ticker

    def no_fit(_training: np.ndarray) -> None:
        raise AssertionError("fitted again")

    monkeypatch.setattr(baselines, "_fit_garch", no_fit)
    again = evaluate(predictor, data, *span, fits=fits)
    assert plain.model_dump() == first.model_dump() == again.model_dump()
    assert again.metrics["AAA"].baselines["garch"].pinball > 0


def test_a_fit_is_the_same_bits_whatever_blas_threads_its_process_has() -> None:
    """SLSQP's sums depend on BLAS's thread count: a backtest and its fitting children, or a
    test worker that set OPENBLAS_NUM_THREADS after loading numpy, fitted different bits."""
    from threadpoolctl import threadpool_limits

    trainings = [baselines.garch_training(_returns(800, seed=200 + i), 600) for i in range(3)]
    with threadpool_limits(limits=2, user_api="blas"):
        two = [baselines._fit_garch(training) for training in trainings]
    with threadpool_limits(limits=1, user_api="blas"):
        one = [baselines._fit_garch(training) for training in trainings]
    assert two == one
