"""The network: a plain LSTM nn.Module from scale-free window features to the next return's
location and scale."""

from __future__ import annotations

import torch
from torch import nn

from model.features import FEATURES, PRIOR


class LSTMForecaster(nn.Module):
    """(batch, steps, features) and (batch, 4) prior -> (batch, 2): location, log scale.

    Both are in units of the training return std. Every output layer starts at zero, so an
    untrained network forecasts the training mean return (almost exactly naive persistence)
    with the EWMA volatility of its window: training has to earn every deviation from them.
    The scale also gets a linear read of the HAR-style day, week and month terms.
    """

    def __init__(
        self,
        input_size: int = len(FEATURES),
        hidden_size: int = 32,
        num_layers: int = 1,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.lstm = nn.LSTM(
            input_size=input_size,
            hidden_size=hidden_size,
            num_layers=num_layers,
            dropout=dropout if num_layers > 1 else 0.0,
            batch_first=True,
        )
        self.dropout = nn.Dropout(dropout)
        self.location = nn.Linear(hidden_size, 1)
        self.scale = nn.Linear(hidden_size, 1)
        self.har = nn.Linear(len(PRIOR) - 1, 1)
        for layer in (self.location, self.scale, self.har):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        hidden = self.dropout(out[:, -1, :])
        location = self.location(hidden).squeeze(-1)
        log_scale = (
            prior[:, 0] + self.har(prior[:, 1:]).squeeze(-1) + self.scale(hidden).squeeze(-1)
        )
        return torch.stack([location, log_scale], dim=-1)
