"""The LightningDataModule: scaled window features and targets for each chronological split."""

from __future__ import annotations

import lightning as L
import torch
from torch.utils.data import DataLoader, TensorDataset

from model.features import ReturnScaler, window_features, window_targets
from model.windows import WindowSet


class WindowDataModule(L.LightningDataModule):
    """Holds train/valid/test windows; the scaler is fit on train returns before this."""

    def __init__(
        self, splits: dict[str, WindowSet], scaler: ReturnScaler, batch_size: int, seed: int
    ) -> None:
        super().__init__()
        self.splits = splits
        self.scaler = scaler
        self.batch_size = batch_size
        self.seed = seed
        self.datasets: dict[str, TensorDataset] = {}

    def setup(self, stage: str | None = None) -> None:
        for name, windows in self.splits.items():
            if name in self.datasets or not len(windows):
                continue
            x = torch.from_numpy(window_features(windows.closes, self.scaler))
            y = torch.from_numpy(window_targets(windows.last, windows.target, self.scaler))
            self.datasets[name] = TensorDataset(x, y)

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
