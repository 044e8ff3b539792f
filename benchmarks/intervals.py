"""Interval figures of issue 12, each beside its baselines, all measured in one run.

Run: `make bench-intervals`. Five tickers from ../shared/data, trained 2018-2022, validated
(early stopping, calibration, shrink weight) on 2023, tested on 2024 (about 250 sessions);
the baselines are fitted on everything before 2024.
- Which distribution head wins on validation data (pinball), for the README's choice.
- Coverage of the 80% and 95% intervals per ticker, inside its binomial 95% band, beside the
  EWMA, empirical and GARCH-t baselines; the mean absolute coverage error over tickers.
- Mean pinball loss over tickers against the EWMA baseline's.
- MASE per ticker, with the shrink weight and the unshrunk network's MASE.
- Online calibration: a synthetic series whose volatility doubles halfway, through the
  stream's pipeline (ACI) beside the same intervals without ACI and a static one; a plot.
- Stream replay throughput with scoring on, against scoring off, in the same run.
"""

from __future__ import annotations

import asyncio
import statistics
from datetime import date
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from common import (  # benchmarks/ is on sys.path when run as a script
    END,
    FIVE,
    START,
    TEST_START,
    VALID_START,
    Report,
    arguments,
    temporary_settings,
    tickcast,
)
from stream import replay

from backtest.engines import run_local
from backtest.run import BacktestRequest, run_backtest
from core import kafka as bus
from core.config import Settings
from model.evaluation import evaluate
from model.forecaster import WindowInput
from model.intervals import binomial_band
from model.predictor import Predictor
from model.training import train
from producers.calendar import trading_days
from producers.publish import ticks_in_order
from producers.sources import load_prices
from schemas.metrics import MetricSet
from streams.broker import EmbeddedBroker

OUT = Path(__file__).resolve().parent / "out"
SHIFT_AT, ROLLING = 300, 40  # the volatility doubles after 300 sessions; coverage over 40
REPLAY_PAIRS = 5  # one replay moves by 10-20% with the load: the median of five pairs


def coverage_rows(report: Report, label: str, metrics: dict[str, MetricSet]) -> None:
    """Per ticker: 80% and 95% coverage of the model and the baselines, and the band."""
    errors: dict[str, list[float]] = {"model": [], "ewma": [], "empirical": [], "garch": []}
    both: dict[str, bool] = {name: True for name in errors}
    for ticker in FIVE:
        m = metrics[ticker]
        low80, high80 = binomial_band(m.n, 0.8)
        low95, high95 = binomial_band(m.n, 0.95)
        figures = {"model": m, **m.baselines}
        cells = []
        for name, f in figures.items():
            inside = low80 <= f.coverage_80 <= high80 and low95 <= f.coverage_95 <= high95
            both[name] &= inside
            errors[name].append((abs(f.coverage_80 - 0.8) + abs(f.coverage_95 - 0.95)) / 2)
            cells.append(f"{name} {f.coverage_80:.1%}/{f.coverage_95:.1%}{'' if inside else '*'}")
        model_in = "*" not in cells[0]
        report.add(
            f"{label}: {ticker} coverage 80%/95% (n={m.n})",
            cells[0],
            f"band 80% [{low80:.1%}, {high80:.1%}], 95% [{low95:.1%}, {high95:.1%}]; "
            + ", ".join(cells[1:]),
            model_in,
        )
    mean_error = {name: 100 * float(np.mean(e)) for name, e in errors.items()}
    report.add(
        f"{label}: mean |coverage error| over tickers (80% and 95%)",
        f"{mean_error['model']:.2f} points",
        "goal <= 2; "
        + ", ".join(f"{n} {mean_error[n]:.2f}" for n in ("ewma", "empirical", "garch")),
        mean_error["model"] <= 2.0,
    )
    reaches = [n for n in ("ewma", "empirical", "garch") if both[n] and mean_error[n] <= 2.0]
    report.add(
        f"{label}: baselines in every band with error <= 2 points",
        ", ".join(reaches) or "none",
        "goal: none of them",
        not reaches,
    )
    pinball = np.mean([metrics[t].pinball for t in FIVE])
    ratios = {
        n: pinball / np.mean([metrics[t].baselines[n].pinball for t in FIVE])
        for n in ("ewma", "empirical", "garch")
    }
    report.add(
        f"{label}: mean pinball over tickers / EWMA's",
        f"{ratios['ewma']:.4f}",
        f"goal <= 0.98; model / empirical {ratios['empirical']:.4f}, / GARCH-t "
        f"{ratios['garch']:.4f}",
        ratios["ewma"] <= 0.98,
    )


def mase_rows(report: Report, metrics: dict[str, MetricSet]) -> None:
    for ticker in FIVE:
        m = metrics[ticker]
        report.add(
            f"{ticker} MASE 2024",
            f"{m.mase:.4f} (shrink weight {m.shrink:.2f})",
            f"goal <= 1.00; unshrunk network {m.mase_unshrunk:.4f}",
            m.mase <= 1.0,
        )


def regime_series(seed: int = 11) -> pd.DataFrame:
    """Closes with daily bars: 1.5% daily volatility for 360 sessions, then 3% for 300."""
    rng = np.random.default_rng(seed)
    vol = np.r_[np.full(SHIFT_AT + 60, 0.015), np.full(300, 0.03)]
    close = 30.0 * np.exp(np.cumsum(rng.normal(0.0, 1.0, vol.size) * vol))
    previous = np.r_[30.0, close[:-1]]
    open_ = previous * np.exp(rng.normal(0.0, 0.25, vol.size) * vol)
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, 0.5, vol.size)) * vol)
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, 0.5, vol.size)) * vol)
    days = trading_days(date(2010, 1, 4), date(2030, 12, 31))[: vol.size]
    return pd.DataFrame(
        {"date": days, "open": open_, "high": high, "low": low, "close": close, "volume": 1e6}
    )


def online_calibration(report: Report, predictor: Predictor) -> None:
    frame = regime_series()
    ticks = ticks_in_order({"SHIFT": frame}, "synthetic")
    result = run_local(ticks, predictor.forecaster, Settings())  # the stream's own code
    closes = frame["close"].to_numpy()
    by_as_of = {f.as_of: f for f in result.forecasts}
    split = {  # the same forecasts read at the nominal levels: no ACI
        p.as_of: p
        for p in predictor.forecaster.forecast(
            [
                WindowInput(
                    closes[i - 59 : i + 1],
                    "SHIFT",
                    frame["date"].iloc[i].date(),
                    frame[["open", "high", "low"]].to_numpy()[i - 59 : i + 1],
                )
                for i in range(59, len(closes) - 1)
            ]
        )
    }
    calm_returns = np.diff(np.log(closes[: SHIFT_AT + 60]))
    static = np.quantile(calm_returns, [0.1, 0.9])  # a fixed interval from the calm period
    rows = []
    for i in range(59, len(closes) - 1):
        day = frame["date"].iloc[i].date()
        y = np.log(closes[i + 1] / closes[i])
        aci = by_as_of[day].return_quantiles
        nominal = split[day].return_quantiles
        rows.append(
            (
                aci["0.1"] <= y <= aci["0.9"],
                nominal["0.1"] <= y <= nominal["0.9"],
                static[0] <= y <= static[1],
            )
        )
    hits = np.array(rows, dtype=float)
    shift = SHIFT_AT  # index in rows of the first session at the new volatility
    rolling = np.array(
        [hits[max(0, k - ROLLING + 1) : k + 1].mean(axis=0) for k in range(len(hits))]
    )
    after = rolling[shift + ROLLING - 1]
    report.add(
        f"online calibration: rolling {ROLLING}-session 80% coverage, {ROLLING} sessions after "
        "the volatility doubles",
        f"ACI {after[0]:.1%}",
        f"goal 75-85%; the same intervals without ACI {after[1]:.1%}; static {after[2]:.1%}",
        abs(after[0] - 0.8) <= 0.05,
    )
    OUT.mkdir(exist_ok=True)
    fig, ax = plt.subplots(figsize=(10, 3.6))
    for j, (label, color) in enumerate(
        (("ACI (the stream)", "tab:blue"), ("split conformal", "tab:green"), ("static", "grey"))
    ):
        ax.plot(rolling[:, j], label=label, color=color, lw=1.2)
    ax.axvline(shift, color="tab:red", ls=":", label="volatility doubles")
    ax.axhspan(0.75, 0.85, color="tab:blue", alpha=0.08)
    ax.set_ylabel(f"rolling {ROLLING}-session 80% coverage")
    ax.set_xlabel("session")
    ax.legend(fontsize=8, loc="lower left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = OUT / "online_calibration.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    report.add("online calibration plot", str(path.relative_to(OUT.parents[1])), "", None)


def replay_rate(settings: Settings, data: Path, scoring: bool) -> float:
    """Forecasts per second of one worker over five tickers 2018-2024, warm-up excluded."""
    with EmbeddedBroker() as broker:
        run = settings.with_kafka(bootstrap_servers=broker.bootstrap, metrics_port=0)
        asyncio.run(bus.ensure_topics(run.kafka))
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
            "TICKCAST_FORECAST__SCORING": str(scoring).lower(),
        }
        with tickcast(run, "worker", **env):
            return replay(run, data)[0]


def main() -> None:
    args = arguments(__doc__, pairs=REPLAY_PAIRS)  # --pairs 0 skips the replays
    report = Report("tickcast intervals (issue 12)")
    with temporary_settings() as settings:
        prices = load_prices(f"csv:{args.data}", FIVE, settings.data, START, END)
        heads = {}
        for head in ("student_t", "quantile"):
            run = settings.model_copy(
                update={"model": settings.model.with_overrides({"head": head})}
            )
            heads[head] = train(
                prices,
                run,
                valid_start=VALID_START,
                test_start=TEST_START,
                promote=head == settings.model.head,
                progress=False,
            )
        valid = {h: r.validation["overall"].pinball for h, r in heads.items()}
        chosen = min(valid, key=valid.get)
        report.add(
            "head: validation pinball (2023), 5 tickers",
            ", ".join(f"{h} {v:.6f}" for h, v in valid.items()),
            f"lower wins: {chosen}; the default is {settings.model.head}",
            chosen == settings.model.head,
        )
        predictor = Predictor.load(settings)  # the default head's model, the champion
        evaluation = evaluate(predictor, prices, TEST_START, END)
        coverage_rows(report, "2024 split conformal (/predict, evaluate)", evaluation.metrics)
        backtest = run_backtest(
            settings,
            BacktestRequest(f"csv:{args.data}", FIVE, TEST_START, END, engine="local"),
            lambda _: None,
        )
        stream = {t: MetricSet.model_validate(m) for t, m in backtest["metrics"].items()}
        coverage_rows(report, "2024 ACI (the stream, local engine)", stream)
        mase_rows(report, evaluation.metrics)
        online_calibration(report, predictor)
        # Alternating pairs, medians: one replay moves by 10-20% with the machine's load.
        pairs = [
            (replay_rate(settings, args.data, False), replay_rate(settings, args.data, True))
            for _ in range(args.pairs)
        ]
        if not pairs:
            report.print()
            return
        off = statistics.median(p[0] for p in pairs)
        on = statistics.median(p[1] for p in pairs)
        report.add(
            f"stream replay with scoring on, 5 tickers 2018-2024 (median of {len(pairs)})",
            f"{on:,.0f} forecasts/s",
            f"scoring off {off:,.0f}/s; goal >= 80% of it ({on / off:.0%}); "
            f"runs: {', '.join(f'{b:,.0f}/{a:,.0f}' for a, b in pairs)}",
            on >= 0.8 * off,
        )
    report.print()


if __name__ == "__main__":
    main()
