"""Fixtures of the producer tests: the real price files and data settings on a temporary dir."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import DataSettings

#: The shared folder beside the project root: tests read it in place, never copy it.
SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(
            "../shared/data is absent: the real-price tests need the shared data folder "
            "beside the project"
        )
    return SHARED_DATA.resolve()


@pytest.fixture
def data_settings(tmp_path: Path) -> DataSettings:
    return DataSettings(dir=tmp_path)
