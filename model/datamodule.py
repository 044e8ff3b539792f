"""The LightningDataModule: scaled window features and targets for each chronological split."""

from __future__ import annotations

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from model.features import ReturnScaler, window_features, window_targets
from model.windows import WindowSet


def features_of(windows: WindowSet, scaler: ReturnScaler, close_only: np.ndarray | None = None):
    """Steps, prior and targets; windows flagged in `close_only` are read without their bars."""
    steps, prior, _ = window_features(windows.closes, scaler, windows.bars)
    if close_only is not None and close_only.any():
        plain_steps, plain_prior, _ = window_features(windows.closes[close_only], scaler)
        steps[close_only], prior[close_only] = plain_steps, plain_prior
    targets = window_targets(windows.last, windows.target, scaler)
    return torch.from_numpy(steps), torch.from_numpy(prior), torch.from_numpy(targets)


class WindowDataModule(L.LightningDataModule):
    """Holds train/valid/test windows; the scaler is fit on train returns before this.

    A share of the training windows is read from closes alone, so the network learns to
    forecast whether or not a feed carries open, high and low.
    """

    def __init__(
        self,
        splits: dict[str, WindowSet],
        scaler: ReturnScaler,
        batch_size: int,
        seed: int,
        close_only_share: float,
    ) -> None:
        super().__init__()
        self.splits = splits
        self.scaler = scaler
        self.batch_size = batch_size
        self.seed = seed
        self.close_only_share = close_only_share
        self.datasets: dict[str, TensorDataset] = {}

    def setup(self, stage: str | None = None) -> None:
        rng = np.random.default_rng(self.seed)
        for name, windows in self.splits.items():
            if name in self.datasets or not len(windows):
                continue
            close_only = None
            if name == "train":
                close_only = rng.random(len(windows)) < self.close_only_share
            self.datasets[name] = TensorDataset(*features_of(windows, self.scaler, close_only))

    def _loader(self, name: str, shuffle: bool) -> DataLoader:
        generator = torch.Generator().manual_seed(self.seed)
        return DataLoader(
            self.datasets[name], batch_size=self.batch_size, shuffle=shuffle, generator=generator
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("valid", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)
