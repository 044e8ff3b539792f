"""MLflow models-from-code entry: lets `mlflow models serve` and pyfunc load a tickcast model.

tickcast itself loads the bundle directly (model.predictor); this file is for other tools.
"""

from __future__ import annotations

from pathlib import Path

import mlflow.pyfunc
import numpy as np
from mlflow.models import set_model

from model.bundle import ModelBundle


class TickcastPyfunc(mlflow.pyfunc.PythonModel):
    """Input: rows of `window` closes. Output: the next close of each row."""

    def load_context(self, context) -> None:
        self.bundle = ModelBundle.load(Path(context.artifacts["bundle"]))

    def predict(self, context, model_input: list[list[float]], params=None) -> list[float]:
        windows = np.asarray(model_input, dtype=np.float64)
        return self.bundle.predict_prices(windows).tolist()


set_model(TickcastPyfunc())
