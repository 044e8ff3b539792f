"""Integration: train into a temporary MLflow store, register, promote, reload, predict."""

from __future__ import annotations

from datetime import date

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient

from model.evaluation import evaluate
from model.predictor import Predictor
from model.training import train
from producers.sources import load_prices
from tests.conftest import Learned
from tests.utils.factories import ar1_frame, price_data

pytestmark = pytest.mark.slow


@pytest.fixture
def synthetic(settings_factory):
    settings = settings_factory()
    data = load_prices(
        "synthetic", ["AAA", "BBB"], settings.data, date(2018, 1, 2), date(2020, 6, 30)
    )
    return settings, data


def test_train_registers_promotes_and_reloads_by_alias(synthetic) -> None:
    settings, data = synthetic
    result = train(data, settings, progress=False)

    assert (result.model_version, result.alias, result.epochs) == ("1", "synthetic", 2)
    assert not result.promoted, "synthetic prices never make a champion by themselves"
    assert result.promotion_reason == "promoted to synthetic: there was no synthetic yet"
    assert result.synthetic and set(result.metrics) == {"AAA", "BBB", "overall"}
    assert result.metrics["overall"].n == result.metrics["AAA"].n + result.metrics["BBB"].n
    with pytest.raises(LookupError):
        Predictor.load(settings)  # no champion

    predictor = Predictor.load(settings, "synthetic")  # a fresh object, by the alias
    assert (predictor.name, predictor.version) == ("tickcast-lstm", "1")
    assert predictor.aliases == ("synthetic",)
    assert predictor.trained_on == result.trained_on
    assert (predictor.trained_on.source_kind, predictor.trained_on.tickers) == (
        "synthetic",
        ["AAA", "BBB"],
    )
    assert predictor.trained_on.start.year == 2018 and predictor.trained_on.end < date(2020, 6, 30)
    assert predictor.params["hidden_size"] == "8"
    assert predictor.metrics["test_mase"] == pytest.approx(result.metrics["overall"].mase)
    assert set(predictor.bundle.baselines) == {"AAA", "BBB", "overall"}
    closes = data.frames["AAA"]["close"].to_numpy()
    windows = np.stack([closes[i : i + 60] for i in range(5)])
    forecasts = predictor.predict(windows)
    assert forecasts.shape == (5,) and np.all(np.isfinite(forecasts)) and np.all(forecasts > 0)
    # The registered weights give exactly what training measured on its test split.
    assert np.allclose(predictor.predict(windows), Predictor.load(settings, "1").predict(windows))


def test_mlflow_run_holds_params_metrics_plot_and_baseline(synthetic) -> None:
    settings, data = synthetic
    result = train(data, settings, progress=False)
    run = MlflowClient(settings.mlflow.tracking_uri).get_run(result.run_id)

    params, metrics, tags = run.data.params, run.data.metrics, run.data.tags
    assert params["data_source"] == "synthetic" and params["synthetic"] == "true"
    assert params["tickers"] == "AAA,BBB" and params["hidden_size"] == "8"
    assert params["train_range"].startswith("2018-") and params["test_range"].endswith("2020-06-30")
    assert tags["synthetic"] == "true" and tags["promoted"] == "false"
    assert (tags["trained_source_kind"], tags["trained_tickers"]) == ("synthetic", "AAA,BBB")
    version = MlflowClient(settings.mlflow.tracking_uri).get_model_version("tickcast-lstm", "1")
    assert version.tags["trained_source_kind"] == "synthetic"
    assert version.tags["trained_start"] == params["train_range"].split("..")[0]
    assert version.tags["trained_end"] == params["train_range"].split("..")[1]
    for key in (
        "mae",
        "rmse",
        "mape",
        "naive_mae",
        "naive_rmse",
        "naive_mape",
        "mase",
        "direction_accuracy",
        "coverage_80",
        "coverage_95",
        "winkler_80",
        "pinball",
        "pinball_ewma",
        "pinball_empirical",
        "pinball_garch",
        "coverage_80_garch",
    ):
        assert f"test_{key}" in metrics and f"test_{key}/AAA" in metrics
    assert metrics["test_mase"] == pytest.approx(metrics["test_mae"] / metrics["test_naive_mae"])
    history = MlflowClient(settings.mlflow.tracking_uri).get_metric_history(
        result.run_id, "val_loss"
    )
    assert len(history) == result.epochs  # one validation loss per epoch
    artifacts = {
        a.path for a in MlflowClient(settings.mlflow.tracking_uri).list_artifacts(result.run_id)
    }
    assert {"plots", "drift_baseline.json", "data_ranges.json"} <= artifacts
    plots = {
        a.path
        for a in MlflowClient(settings.mlflow.tracking_uri).list_artifacts(result.run_id, "plots")
    }
    assert plots == {
        f"plots/{t}.{kind}.png" for t in ("AAA", "BBB") for kind in ("fan", "reliability")
    }
    baseline = mlflow.artifacts.load_dict(f"{run.info.artifact_uri}/drift_baseline.json")
    assert baseline["AAA"]["n"] > 100 and baseline["overall"]["std"] > 0


def test_training_learns_a_real_signal(learned_ar1: Learned) -> None:
    """Returns with AR(1) structure are predictable: a working model must beat naive clearly."""
    result = learned_ar1.result
    assert result.metrics["overall"].mase < 0.9
    assert result.metrics["overall"].direction_accuracy > 0.6


def test_same_seed_gives_same_metrics(synthetic) -> None:
    settings, data = synthetic
    first = train(data, settings, progress=False)
    second = train(data, settings, progress=False, promote=False)
    assert first.metrics == second.metrics and first.best_val_loss == second.best_val_loss


def test_worse_model_does_not_take_the_alias(learned_ar1: Learned) -> None:
    """The shared AR(1) model is the good one: this test adds versions 2 and 3 to its store
    (the fixture's other users hold what they read, loaded before)."""
    good_settings, data, good = learned_ar1.settings, learned_ar1.data, learned_ar1.result
    # Barely trained: next to naive, so worse than a model that learned the AR(1) signal.
    barely = good_settings.model.with_overrides({"max_epochs": 1, "learning_rate": 1e-6})
    worse_settings = good_settings.model_copy(update={"model": barely})
    worse = train(data, worse_settings, progress=False)

    assert good.promoted and not worse.promoted
    assert worse.promotion_reason.startswith("not promoted, champion v1 stays: validation ")
    assert "a tie keeps the current model" in worse.promotion_reason
    assert Predictor.load(good_settings).version == good.model_version == "1"
    assert worse.model_version == "2"

    forced = train(data, worse_settings, progress=False, promote=True)
    assert forced.promoted and forced.promotion_reason == "promoted: forced by --promote"
    assert Predictor.load(good_settings).version == "3"


def test_nothing_crosses_source_kinds_without_promote(settings_factory) -> None:
    settings = settings_factory()
    data = price_data({"AR": ar1_frame(n=600, seed=3)}, source="csv")
    first = train(data, settings, progress=False)
    assert (first.alias, first.promoted) == ("champion", True)

    other = price_data({"AR": ar1_frame(n=600, seed=3)}, source="yahoo")
    second = train(other, settings, progress=False)
    assert (second.alias, second.promoted) == (None, False)
    assert second.promotion_reason == (
        "not promoted: champion v1 was trained on csv prices and this model on yahoo; "
        "promote across source kinds with --promote"
    )
    assert Predictor.load(settings).version == "1"


def test_evaluate_scores_every_day_of_a_range(synthetic) -> None:
    settings, data = synthetic
    train(data, settings, progress=False)
    predictor = Predictor.load(settings, "synthetic")
    report = evaluate(predictor, data, date(2019, 3, 1), date(2019, 3, 31))
    march_days = sum(1 for d in data.frames["AAA"]["date"] if d.year == 2019 and d.month == 3)
    assert report.metrics["AAA"].n == march_days  # earlier closes filled the first windows
    assert report.start >= "2019-03-01" and report.end <= "2019-03-31"
    assert report.metrics["overall"].n == 2 * march_days
