"""Registry helpers: the experiment is restored after a detour, flags have one written form."""

from __future__ import annotations

import mlflow
import pytest

from model import registry


def _active_experiment() -> str:
    """Where a run started now would go."""
    with mlflow.start_run() as run:
        return mlflow.get_experiment(run.info.experiment_id).name


def test_a_detour_to_another_experiment_is_undone_even_on_error(settings_factory) -> None:
    settings = settings_factory()
    registry.connect(settings.mlflow)
    with pytest.raises(RuntimeError), registry.experiment(settings.mlflow, "tickcast-backtests"):
        assert _active_experiment() == "tickcast-backtests"
        raise RuntimeError("the backtest failed")
    assert _active_experiment() == settings.mlflow.experiment == "tickcast"


@pytest.mark.parametrize(("written", "read"), [(True, "true"), (False, "false")])
def test_flags_are_written_one_way_and_read_back(written: bool, read: str) -> None:
    assert registry.flag(written) == read
    assert registry.read_flag(registry.flag(written)) is written


@pytest.mark.parametrize("legacy", ["True", "TRUE", " true "])
def test_older_spellings_still_read_as_true(legacy: str) -> None:
    assert registry.read_flag(legacy) is True
    assert registry.read_flag(None) is False
