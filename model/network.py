"""The network: a plain LSTM nn.Module from scale-free window features to the next return."""

from __future__ import annotations

import torch
from torch import nn


class LSTMForecaster(nn.Module):
    """(batch, steps, features) -> (batch,) scaled next log return.

    The output layer starts at zero, so an untrained network forecasts the training mean
    return: almost exactly naive persistence. Training has to earn every deviation from it.
    """

    def __init__(
        self, input_size: int = 2, hidden_size: int = 32, num_layers: int = 1, dropout: float = 0.0
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
        self.head = nn.Linear(hidden_size, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        return self.head(self.dropout(out[:, -1, :])).squeeze(-1)
