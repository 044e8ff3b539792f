"""The `tickcast` command through typer's CliRunner, on a temporary store."""

from __future__ import annotations

import json
import os
import shutil
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from core.config import get_settings
from producers.calendar import next_trading_day
from tests.probes import run_probe
from tests.utils.factories import seed_store
from tickcast.cli import app

runner = CliRunner()

TRAIN = [
    "train",
    "--source",
    "synthetic",
    "--tickers",
    "AAA",
    "--start",
    "2018-01-02",
    "--end",
    "2019-12-31",
    "--max-epochs",
    "2",
    "--hidden-size",
    "8",
]


def evaluate(tickers: str, start: str, end: str, *extra: str) -> list[str]:
    return [
        "evaluate",
        "--source",
        "synthetic",
        "--tickers",
        tickers,
        "--start",
        start,
        "--end",
        end,
        *extra,
    ]


@pytest.fixture(autouse=True)
def _store(tmp_path, monkeypatch):
    monkeypatch.setenv("TICKCAST_DATA__DIR", str(tmp_path / "state"))
    seed_store(tmp_path / "state")
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def trained_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """`tickcast train` (TRAIN --json) run once into a store of its own: (the store, what it
    printed). Training is most of these tests' time, and they only read the model."""
    root = tmp_path_factory.mktemp("cli-trained") / "state"
    seed_store(root)
    with pytest.MonkeyPatch.context() as env:
        for name in [n for n in os.environ if n.startswith(("TICKCAST_", "MLFLOW_"))]:
            env.delenv(name)
        env.setenv("TICKCAST_DATA__DIR", str(root))
        get_settings.cache_clear()
        result = runner.invoke(app, [*TRAIN, "--json"])
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    return root, result.stdout


@pytest.fixture
def trained(trained_store: tuple[Path, str], tmp_path: Path) -> str:
    """This test's store is a copy of the one trained above; returns what training printed."""
    root, printed = trained_store
    shutil.copytree(root, tmp_path / "state", dirs_exist_ok=True)
    return printed


def test_train_json_prints_one_object_with_every_metric(trained: str) -> None:
    payload = json.loads(trained)  # nothing but the JSON on stdout
    assert payload["model_version"] == "1" and payload["alias"] == "synthetic"
    assert payload["promoted"] is False, "synthetic prices never make a champion by themselves"
    assert payload["trained_on"]["source_kind"] == "synthetic"
    assert payload["run_id"] and payload["synthetic"] is True
    for scope in ("AAA", "overall"):
        metrics = payload["metrics"][scope]
        assert {"mae", "rmse", "mape", "naive_mape", "mase", "direction_accuracy"} <= set(metrics)
    assert payload["ranges"]["AAA"]["test"].endswith("2019-12-30")


def test_train_then_evaluate_prints_a_table(trained: str) -> None:
    result = runner.invoke(app, evaluate("AAA,BBB", "2020-01-01", "2020-03-31"))
    assert result.exit_code == 0, result.output
    for text in ("tickcast-lstm v1", "MASE", "AAA", "BBB", "overall", "synthetic"):
        assert text in result.stdout


def test_evaluate_json_by_version(trained: str) -> None:
    result = runner.invoke(
        app, evaluate("AAA", "2020-01-01", "2020-01-31", "--model", "1", "--json")
    )
    payload = json.loads(result.stdout)
    assert payload["model_version"] == "1" and payload["metrics"]["AAA"]["n"] >= 19


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--source", "ftp://x"], "unknown source"),
        (["train", "--source", "csv:does/not/exist"], "no such file or folder"),
        ([*TRAIN, "--hidden-size", "0"], "hidden_size"),
        ([*TRAIN, "--valid-start", "2019-06-01"], "both valid_start and test_start"),
        (["evaluate", "--source", "synthetic", "--model", "champion"], "no model 'tickcast-lstm'"),
        (["evaluate", "--source", "synthetic", "--model", "7"], "train one with `tickcast train`"),
        (["tail", "forecasts"], "no Kafka: set KAFKA_BOOTSTRAP_SERVERS"),
        (
            ["backtest", "--source", "synthetic", "--start", "2020-03-01", "--end", "2020-01-01"],
            "end 2020-01-01 is before start 2020-03-01",
        ),
    ],
)
def test_user_errors_are_one_line_without_traceback(args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


def test_data_reports_dropped_rows(tmp_path) -> None:
    csv = tmp_path / "X.csv"
    csv.write_text(
        "Date,Open,High,Low,Close,Volume\n"
        "2024-01-03,10,11,9,10.5,100\n2024-01-02,10,11,9,10,100\n2024-01-02,10,11,9,10,100\n"
        "2024-01-04,7,7,7,7,0\n2024-01-05,10,11,9,-1,100\n"
    )
    result = runner.invoke(app, ["data", "--source", f"csv:{csv}", "--tickers", "X"])
    assert result.exit_code == 0, result.output
    for text in ("2 rows", "1 duplicate date", "1 Yahoo filler row", "1 non-positive close"):
        assert text in result.output


def test_backtest_json_and_table(trained: str, monkeypatch: pytest.MonkeyPatch) -> None:
    args = [
        "backtest",
        "--source",
        "synthetic",
        "--tickers",
        "AAA",
        "--start",
        "2020-02-03",
        "--end",
        "2020-03-31",
        "--engine",
        "local",
    ]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["engine"] == "local" and report["synthetic"] is True
    assert {"mase", "dm_pvalue", "drift_alerts"} <= set(report["metrics"]["AAA"])
    table = runner.invoke(app, args)
    assert table.exit_code == 0 and "MASE" in table.stdout and "DM p" in table.stdout
    assert "│ AAA " in table.stdout and "Overall figures only" not in table.stdout
    # Above TICKCAST_BACKTEST__MAX_TABLE_TICKERS, the table holds the overall row alone.
    monkeypatch.setenv("TICKCAST_BACKTEST__MAX_TABLE_TICKERS", "0")
    get_settings.cache_clear()
    short = runner.invoke(app, args)
    assert short.exit_code == 0 and "│ overall " in short.stdout
    words = " ".join(short.stdout.split())  # the caption wraps
    assert "│ AAA " not in short.stdout and "Overall figures only for these 1 tickers" in words
    refused = runner.invoke(app, [*args[:-2], "--engine", "stream", "--retrain-every", "20"])
    assert refused.exit_code == 1 and "local engine" in refused.output


def test_an_invalid_setting_is_one_line(monkeypatch) -> None:
    monkeypatch.setenv("TICKCAST_MODEL__HIDDEN_SIZE", "lots")
    result = runner.invoke(app, ["data", "--source", "synthetic"])
    assert result.exit_code == 1
    assert "invalid TICKCAST_ settings: model.hidden_size" in result.output
    assert "Traceback" not in result.output


LAYOUT = {"n", "coverage_80", "coverage_95", "winkler_80", "pinball", "mase"}


def _has_the_shared_layout(payload: dict, tickers: set[str]) -> None:
    """metrics.<TICKER> and metrics.overall, each with the figures and three baselines."""
    assert set(payload["metrics"]) == tickers | {"overall"}
    for figures in payload["metrics"].values():
        assert set(figures) >= LAYOUT
        assert set(figures["baselines"]) == {"ewma", "empirical", "garch"}
        for baseline in figures["baselines"].values():
            assert set(baseline) >= LAYOUT
            assert baseline["n"] == figures["n"]  # exactly the same days
        assert 0 <= figures["coverage_80"] <= figures["coverage_95"] <= 1
        assert figures["shrink"] is not None and figures["mase_unshrunk"] is not None


def test_train_evaluate_and_backtest_share_one_json_layout(trained: str, tmp_path) -> None:
    _has_the_shared_layout(json.loads(trained), {"AAA"})
    plots = tmp_path / "plots"
    evaluated = runner.invoke(
        app, evaluate("AAA,BBB", "2020-01-01", "2020-03-31", "--json", "--out", str(plots))
    )
    assert evaluated.exit_code == 0, evaluated.output
    assert {p.name for p in plots.iterdir()} == {
        f"{t}.{kind}.png" for t in ("AAA", "BBB") for kind in ("fan", "reliability")
    }
    _has_the_shared_layout(json.loads(evaluated.stdout), {"AAA", "BBB"})
    backtested = runner.invoke(
        app,
        [
            "backtest",
            "--source",
            "synthetic",
            "--tickers",
            "AAA,BBB",
            "--start",
            "2020-01-01",
            "--end",
            "2020-03-31",
            "--engine",
            "local",
            "--json",
        ],
    )
    assert backtested.exit_code == 0, backtested.output
    report = json.loads(backtested.stdout)
    _has_the_shared_layout(report, {"AAA", "BBB"})
    # the same model on the same days: evaluate and backtest agree on the points
    points = json.loads(evaluated.stdout)["metrics"]["AAA"]
    assert report["metrics"]["AAA"]["n"] == points["n"]
    assert report["metrics"]["AAA"]["mase"] == pytest.approx(points["mase"], rel=1e-12)


def test_evaluate_warns_when_it_scores_the_models_training_days(trained: str) -> None:
    seen = json.loads(trained)["trained_on"]
    args = [
        "evaluate",
        "--source",
        "synthetic",
        "--tickers",
        "AAA,BBB",
        "--end",
        "2020-03-31",
        "--model",
        "1",
    ]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    json.loads(result.stdout)  # the warning stays off stdout
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    # every day AAA trained on is scored here; BBB was never seen, so it is not named
    assert warnings == [
        f"warning: AAA scored on {seen['start']}..{seen['end']}, days the model trained on; "
        f"pass --start {next_trading_day(date.fromisoformat(seen['end']))} to score only days "
        "it never saw"
    ]
    unseen = warnings[0].split("--start ")[1].split()[0]
    after = runner.invoke(app, [*args, "--start", unseen])
    assert after.exit_code == 0, after.output
    assert "warning:" not in after.stderr


def test_a_range_outside_the_data_fails_before_any_model_loads(tmp_path) -> None:
    """No model exists: each command names the data's dates, not the missing model, and
    neither torch nor MLflow is imported for it (a fresh interpreter shows it)."""
    folder = tmp_path / "prices"
    folder.mkdir()
    (folder / "AAA.csv").write_text("Date,Close\n2024-01-02,10\n2024-01-03,11\n")
    source = ["--source", f"csv:{folder}", "--tickers", "AAA"]
    commands = [
        ["train", *source, "--start", "2030-01-01"],
        ["evaluate", *source, "--start", "2030-01-01", "--end", "2030-12-31"],
        ["backtest", *source, "--start", "2030-01-01", "--end", "2030-12-31"],
    ]
    script = (
        "import json, sys\n"
        "from typer.testing import CliRunner\n"
        "from tickcast.cli import app\n"
        "runs = [CliRunner().invoke(app, args) for args in json.loads(sys.argv[1])]\n"
        "print(json.dumps({'codes': [r.exit_code for r in runs],\n"
        "    'errors': [r.stderr.strip() for r in runs],\n"
        "    'heavy': [m for m in ('torch', 'mlflow', 'lightning') if m in sys.modules]}))\n"
    )
    outcome = run_probe(
        script, json.dumps(commands), env={"TICKCAST_DATA__DIR": str(tmp_path / "state")}
    )
    assert outcome["codes"] == [1, 1, 1]
    assert outcome["errors"] == [
        "error: no AAA closes from 2030-01-01 on; the data covers 2024-01-02..2024-01-03",
        "error: no AAA closes between 2030-01-01 and 2030-12-31; the data covers "
        "2024-01-02..2024-01-03",
        "error: no AAA closes between 2030-01-01 and 2030-12-31; the data covers "
        "2024-01-02..2024-01-03",
    ]
    assert outcome["heavy"] == []


def test_a_csv_of_another_ticker_is_refused(tmp_path) -> None:
    path = tmp_path / "PETR4.SA.csv"
    path.write_text("Date,Close\n2024-01-02,10\n2024-01-03,11\n")
    result = runner.invoke(app, ["data", "--source", f"csv:{path}", "--tickers", "CMIG4.SA"])
    assert result.exit_code == 1
    assert "its file name says it holds PETR4.SA, not CMIG4.SA" in result.stderr
