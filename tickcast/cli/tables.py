"""The one figures table of train, evaluate and backtest: the model beside naive and the three
interval baselines, per ticker and overall, on the same days."""

from __future__ import annotations

from collections.abc import Mapping

from rich.table import Table

from schemas.metrics import IntervalScores, MetricSet

COLUMNS = (
    "ticker",
    "forecaster",
    "n",
    "MASE",
    "80% in",
    "95% in",
    "80% width",
    "Winkler 80%",
    "pinball",
    "vs EWMA",
)


def _cells(m: IntervalScores | MetricSet, ewma: float | None) -> list[str]:
    def number(value: float | None, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    ratio = None if ewma is None or m.pinball is None else m.pinball / ewma
    return [
        str(m.n),
        number(m.mase, ".4f"),
        number(m.coverage_80, ".1%"),
        number(m.coverage_95, ".1%"),
        number(m.width_80, ".4f"),
        number(m.winkler_80, ".4f"),
        number(m.pinball, ".6f"),
        number(ratio, ".3f"),
    ]


def metrics_table(title: str, metrics: Mapping[str, MetricSet]) -> Table:
    table = Table(title=title)
    for column in COLUMNS:
        left = column in COLUMNS[:2]
        table.add_column(column, justify="left" if left else "right", no_wrap=column == "ticker")
    for ticker, m in metrics.items():
        style = "bold" if ticker == "overall" else None
        ewma = m.baselines["ewma"].pinball if "ewma" in m.baselines else None
        shrink = "" if m.shrink is None else f" w={m.shrink:.2f}"
        unshrunk = "" if m.mase_unshrunk is None else f", net MASE {m.mase_unshrunk:.4f}"
        table.add_row(ticker, f"model{shrink}{unshrunk}", *_cells(m, ewma), style=style)
        for name, baseline in m.baselines.items():
            table.add_row("", name, *_cells(baseline, ewma), style="dim")
    table.caption = (
        "MASE: MAE / naive ('tomorrow = today') MAE on the same days, < 1 beats naive; w: weight "
        "of the network in the shipped point (0 = naive), net MASE: the network unshrunk. "
        "Intervals and pinball on log returns; 'vs EWMA': pinball / the EWMA baseline's."
    )
    return table
