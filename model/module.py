"""The LightningModule: one shared step for train, validation and test; optimizer injected."""

from __future__ import annotations

from collections.abc import Callable

import lightning as L
import torch
from torch import nn

OptimizerFactory = Callable[[object], torch.optim.Optimizer]


class ForecastModule(L.LightningModule):
    """Trains a network on scaled next-return targets with the Huber loss.

    Huber keeps the fat-tailed days of real returns from dominating the fit.
    """

    def __init__(self, net: nn.Module, optimizer: OptimizerFactory) -> None:
        super().__init__()
        self.net = net
        self.optimizer_factory = optimizer
        self.loss = nn.HuberLoss(delta=1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def model_step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = batch
        return self.loss(self(x), y)

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

    def predict_step(self, batch, batch_idx: int) -> torch.Tensor:
        x = batch[0] if isinstance(batch, (list, tuple)) else batch
        return self(x)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.optimizer_factory(self.parameters())
