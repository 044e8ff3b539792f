"""Which price sources POST /train may use: yahoo, synthetic, and CSV files inside one folder.

A client names a file or folder; it is resolved (symlinks, ..) and must stay inside
`api.train_data_dir`, be regular files, and hold at most `api.max_train_bytes` in all. The
API only looks at the files (stat); the training process opens them. A path outside the
folder and a path that does not exist get the same answer, so a client cannot probe the disk.
"""

from __future__ import annotations

import logging
from pathlib import Path

from core.config import ApiSettings
from core.errors import InputError
from producers.sources import parse_source

logger = logging.getLogger(__name__)

DIR_SETTING = "TICKCAST_API__TRAIN_DATA_DIR"


class SourceNotAllowed(InputError):
    """A source POST /train may not read; worded the same whatever the path is."""


def _refused(settings: ApiSettings) -> SourceNotAllowed:
    return SourceNotAllowed(
        "csv sources must name a .csv file, or a folder of TICKER.csv files, inside "
        f"the training data folder ({DIR_SETTING}), at most {settings.max_train_bytes} bytes "
        "in all; or use yahoo or synthetic"
    )


def _inside(root: Path, path: Path) -> Path | None:
    """`path` (relative to `root`, or absolute) resolved, if it stays inside `root`."""
    resolved = (root / path).resolve()
    return resolved if resolved.is_relative_to(root) else None


def _files(root: Path, location: Path, tickers: list[str]) -> list[Path] | None:
    """The files a job would read: the file itself, or each ticker's file in the folder."""
    if location.is_file():
        return [location]
    if not location.is_dir():
        return None
    files = [_inside(root, location / f"{ticker}.csv") for ticker in tickers]
    if any(f is None or not f.is_file() for f in files):
        return None
    return [f for f in files if f is not None]


def allowed_source(spec: str, tickers: list[str], settings: ApiSettings) -> str:
    """`spec` as the training process should read it (a csv path made absolute and resolved),
    or SourceNotAllowed; unknown kinds are a SourceError (both 422)."""
    source = parse_source(spec)  # an unknown kind or bad reading options: SourceError
    if source.kind != "csv" or source.path is None:
        return spec
    if settings.train_data_dir is None:
        raise SourceNotAllowed(
            f"csv sources are off on this server ({DIR_SETTING} is not set); use yahoo or synthetic"
        )
    # Reading options may follow the path (csv:PATH?sep=;); they pass through untouched.
    _, mark, options = spec.partition("?")
    size: int | None = None
    try:
        root = settings.train_data_dir.resolve()
        location = _inside(root, source.path)
        files = _files(root, location, tickers) if location is not None else None
        if files is not None:
            size = sum(f.stat().st_size for f in files)
    except (OSError, RuntimeError, ValueError):  # unreadable, a symlink loop, a NUL byte
        size = None
    if size is None or size > settings.max_train_bytes:
        logger.info("POST /train refused source %r", spec)
        raise _refused(settings)
    return f"csv:{location}{mark}{options}"
