"""ModelHolder: the table keeps enough closes for the model, and refuses a model needing more."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from core.config import DriftSettings, ForecastSettings
from model.drift import build_baselines
from model.forecaster import Forecaster
from streams.app import ModelHolder
from tests.utils.factories import stand_in_bundle

BASELINES = build_baselines({"AAA": 20 * np.exp(np.cumsum(np.full(300, 0.001)))})


def forecaster(window: int, version: str) -> Forecaster:
    bundle = stand_in_bundle(window, BASELINES, hidden_size=4)
    return Forecaster(bundle, "tickcast-lstm", version, ForecastSettings(), DriftSettings())


@pytest.mark.parametrize(
    ("window", "kept", "capacity"), [(60, 60, 60), (90, 60, 90), (60, 120, 120)]
)
def test_the_table_keeps_the_setting_or_the_window_if_longer(window, kept, capacity) -> None:
    assert ModelHolder.start(forecaster(window, "1"), kept).capacity == capacity


def test_a_model_within_the_capacity_is_swapped_in() -> None:
    holder = ModelHolder.start(forecaster(60, "1"), 90)
    assert holder.swap(forecaster(90, "2"))
    assert holder.current.version == "2" and holder.capacity == 90


def test_a_wider_model_is_refused_in_one_line_that_says_what_to_do(caplog) -> None:
    holder = ModelHolder.start(forecaster(60, "1"), 60)
    with caplog.at_level(logging.ERROR, logger="streams.app"):
        assert not holder.swap(forecaster(120, "7"))
    assert holder.current.version == "1"
    [record] = caplog.records
    message = record.getMessage()
    assert "v7: it reads 120 closes but the table keeps 60 per ticker" in message
    assert "v1 keeps forecasting" in message
    assert "Set TICKCAST_KAFKA__CLOSES_KEPT=120" in message
