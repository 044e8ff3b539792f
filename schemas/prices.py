"""The validated price frame's columns and the report of what loading dropped."""

from __future__ import annotations

from pydantic import BaseModel, Field

SCHEMA_VERSION = 1

#: Columns of every validated per-ticker price frame, in order.
PRICE_COLUMNS: tuple[str, ...] = ("date", "open", "high", "low", "close", "volume")


class LoadReport(BaseModel):
    """What a source returned for one ticker, and each row it dropped, counted by reason."""

    schema_version: int = SCHEMA_VERSION
    ticker: str
    source: str
    origin: str = Field(description="File, URL or generator the rows came from.")
    synthetic: bool = False
    rows_in: int
    rows_out: int
    first_date: str | None = None
    last_date: str | None = None
    dropped: dict[str, int] = Field(default_factory=dict, description="reason -> row count")

    def summary(self) -> str:
        label = " (synthetic)" if self.synthetic else ""
        span = f"{self.first_date}..{self.last_date}" if self.rows_out else "no rows"
        text = f"{self.ticker}{label}: {self.rows_out} rows {span} from {self.origin}"
        if self.dropped:
            reasons = ", ".join(f"{n} {reason}" for reason, n in self.dropped.items())
            text += f"; dropped {reasons}"
        return text
