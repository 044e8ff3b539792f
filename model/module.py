"""The LightningModule: one shared step for train, validation and test; optimizer injected.

Two ways to train the predictive distribution of the next return, chosen by the `head`
hyperparameter (README, "The model", says which won on validation data and why):
- `student_t`: location and scale with a Student-t likelihood, its degrees of freedom learnt;
- `quantile`: the same location and scale, with five learnt standardised quantiles, trained
  with the pinball loss.
Either way serving reads location and scale only, and split conformal calibration on the
validation split turns them into quantiles, so the heads' own parameters are training-only.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import lightning as L
import torch
from scipy import stats
from torch import nn
from torch.nn import functional as F

OptimizerFactory = Callable[[object], torch.optim.Optimizer]
Head = Literal["student_t", "quantile"]
TRAINING_LEVELS = (0.025, 0.1, 0.5, 0.9, 0.975)


class StudentTLoss(nn.Module):
    """Negative log-likelihood of a location-scale Student-t; df = 2 + softplus(raw) > 2."""

    def __init__(self, initial_df: float = 6.0) -> None:
        super().__init__()
        self.raw_df = nn.Parameter(torch.tensor(math.log(math.expm1(initial_df - 2.0))))

    @property
    def df(self) -> torch.Tensor:
        return 2.0 + F.softplus(self.raw_df)

    def forward(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        location, log_scale = out[:, 0], out[:, 1]
        df = self.df
        z = (y - location) * torch.exp(-log_scale)
        log_density = (
            torch.lgamma((df + 1) / 2)
            - torch.lgamma(df / 2)
            - 0.5 * torch.log(df * math.pi)
            - log_scale
            - (df + 1) / 2 * torch.log1p(z * z / df)
        )
        return -log_density.mean()


class QuantileLoss(nn.Module):
    """Mean pinball loss of location + scale * z_tau, with increasing learnt z_tau."""

    def __init__(self, levels: tuple[float, ...] = TRAINING_LEVELS) -> None:
        super().__init__()
        start = torch.tensor(stats.norm.ppf(levels), dtype=torch.float32)
        self.register_buffer("levels", torch.tensor(levels, dtype=torch.float32))
        self.first = nn.Parameter(start[:1].clone())
        gaps = start[1:] - start[:-1]
        self.raw_gaps = nn.Parameter(torch.log(torch.expm1(gaps)))

    @property
    def z(self) -> torch.Tensor:
        return torch.cat([self.first, self.first + torch.cumsum(F.softplus(self.raw_gaps), 0)])

    def forward(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        q = out[:, :1] + torch.exp(out[:, 1:2]) * self.z
        diff = y.unsqueeze(-1) - q
        return torch.maximum(self.levels * diff, (self.levels - 1) * diff).mean()


def make_loss(head: Head) -> nn.Module:
    return StudentTLoss() if head == "student_t" else QuantileLoss()


class ForecastModule(L.LightningModule):
    """Trains a network on scaled next-return targets with the head's loss."""

    def __init__(self, net: nn.Module, optimizer: OptimizerFactory, head: Head) -> None:
        super().__init__()
        self.net = net
        self.optimizer_factory = optimizer
        self.loss = make_loss(head)

    def forward(self, x: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
        return self.net(x, prior)

    def model_step(self, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        x, prior, y = batch
        return self.loss(self(x, prior), y)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        loss = self.model_step(batch)
        self.log("train_loss", loss, on_step=False, on_epoch=True, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx: int) -> torch.Tensor:
        loss = self.model_step(batch)
        self.log("val_loss", loss, on_step=False, on_epoch=True, prog_bar=True)
        return loss

    def test_step(self, batch, batch_idx: int) -> torch.Tensor:
        loss = self.model_step(batch)
        self.log("test_loss", loss, on_step=False, on_epoch=True)
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.optimizer_factory(self.parameters())
