"""Daily bars from Yahoo Finance through yfinance, cached on disk."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import socket
import time
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from producers.errors import SourceError, SourceUnavailable

logger = logging.getLogger(__name__)

OFFLINE_HINT = (
    "use an offline source: --source csv:PATH (a file or a folder of TICKER.csv) "
    "or --source synthetic"
)
YAHOO_HOST = "query1.finance.yahoo.com"


def reachable(host: str = YAHOO_HOST, timeout_s: float = 3.0) -> bool:
    """Whether a TCP connection to Yahoo's API host opens: tells 'offline' from 'no data'."""
    try:
        with socket.create_connection((host, 443), timeout=timeout_s):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def _quiet_yfinance():
    """yfinance logs and prints its own failures; the caller reports them in one line."""
    yf_logger = logging.getLogger("yfinance")
    level = yf_logger.level
    yf_logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        yf_logger.setLevel(level)


def _cache_path(cache_dir: Path, ticker: str, start: date | None, end: date | None) -> Path:
    key = hashlib.sha1(f"{ticker}|{start}|{end}".encode()).hexdigest()[:12]
    return cache_dir / "yahoo" / f"{ticker}-{key}.csv"


def _fresh(path: Path, end: date | None, ttl_hours: float) -> bool:
    """A cached closed range never expires; one reaching today expires after the TTL."""
    if not path.exists():
        return False
    if end is not None and end < date.today() - timedelta(days=1):
        return True
    return (time.time() - path.stat().st_mtime) < ttl_hours * 3600


def _flatten(frame: pd.DataFrame) -> pd.DataFrame:
    """yfinance returns (field, ticker) columns; keep one level, canonical names."""
    if isinstance(frame.columns, pd.MultiIndex):
        frame = frame.droplevel(1, axis=1) if frame.columns.nlevels > 1 else frame
    frame = frame.reset_index()
    frame.columns = [str(c).strip().lower().replace(" ", "_") for c in frame.columns]
    if "adj_close" in frame:
        frame["close"] = frame["adj_close"]
    return frame.rename(columns={"datetime": "date"})


def download(ticker: str, start: date | None, end: date | None, timeout_s: float) -> pd.DataFrame:
    """One ticker's bars, or SourceUnavailable when Yahoo cannot be reached."""
    import yfinance as yf  # slow import; only the yahoo source needs it

    # yfinance's end is exclusive; ours is inclusive.
    end_exclusive = end + timedelta(days=1) if end else None
    with _quiet_yfinance(), contextlib.redirect_stdout(None), contextlib.redirect_stderr(None):
        try:
            raw = yf.download(
                ticker,
                start=start,
                end=end_exclusive,
                auto_adjust=True,
                progress=False,
                threads=False,
                timeout=timeout_s,
                multi_level_index=False,
            )
        except Exception as exc:  # yfinance raises many network error types
            raise SourceUnavailable(
                f"Yahoo Finance could not be reached ({exc}); {OFFLINE_HINT}"
            ) from exc
    if raw is None or raw.empty:
        if not reachable(timeout_s=min(timeout_s, 3.0)):
            raise SourceUnavailable(
                f"Yahoo Finance cannot be reached from this machine; {OFFLINE_HINT}"
            )
        raise SourceError(
            f"Yahoo Finance has no daily bars for {ticker} between {start or 'the start'} and "
            f"{end or 'today'}; check the ticker (B3 tickers end in .SA)"
        )
    return _flatten(raw)


def yahoo_bars(
    ticker: str,
    start: date | None,
    end: date | None,
    *,
    cache_dir: Path,
    ttl_hours: float,
    timeout_s: float,
) -> tuple[pd.DataFrame, str]:
    """Bars from the cache when fresh, else from Yahoo (then cached). Returns (bars, origin)."""
    path = _cache_path(cache_dir, ticker, start, end)
    if _fresh(path, end, ttl_hours):
        logger.info("yahoo %s: cache hit %s", ticker, path)
        try:
            return pd.read_csv(path), f"yahoo cache {path}"
        except (OSError, pd.errors.ParserError) as exc:
            logger.warning("ignoring unreadable cache %s: %s", path, exc)
    bars = download(ticker, start, end, timeout_s)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        bars.to_csv(path, index=False)
    except OSError as exc:
        raise SourceError(f"{path}: cannot write the Yahoo cache ({exc})") from exc
    return bars, "Yahoo Finance"
