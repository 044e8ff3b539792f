"""Backtests end to end: engines agree, the report holds the figures, live topics stay untouched."""

from __future__ import annotations

import asyncio
import json
import shutil
from datetime import date
from pathlib import Path

import pytest
from aiokafka.structs import TopicPartition

from backtest.engines import run_local, run_stream
from backtest.run import BacktestRequest, run_backtest
from core import kafka as bus
from core.config import KafkaSettings
from model.baselines import GARCH_FITS, MIN_FITS_PER_PROCESS
from model.predictor import Predictor
from model.training import train
from producers.calendar import trading_days
from producers.publish import ticks_in_order
from producers.sources import load_prices
from tests.probes import run_probe
from tests.utils.factories import make_settings

pytestmark = pytest.mark.broker

TICKERS = ["AAA", "BBB"]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("backtest")
    settings = make_settings(root)
    data = load_prices("synthetic", TICKERS, settings.data, date(2018, 1, 2), date(2019, 12, 31))
    train(data, settings, progress=False)
    return settings


def test_stream_and_local_engines_agree(store, broker, monkeypatch) -> None:
    settings = store.with_kafka(bootstrap_servers=broker.bootstrap)
    # The worker takes batches of at most 7 closes, the local engine batches of 500.
    monkeypatch.setenv("TICKCAST_KAFKA__BATCH_SIZE", "7")
    data = load_prices("synthetic", TICKERS, settings.data, date(2020, 1, 2), date(2020, 12, 30))
    ticks = ticks_in_order(data.frames, data.source)
    predictor = Predictor.load(settings, synthetic=True)
    local = run_local(ticks, predictor.forecaster, settings)
    stream = run_stream(ticks, predictor.forecaster, settings)
    dump = lambda items: sorted(  # noqa: E731
        (m.model_dump(mode="json", exclude={"produced_at"}) for m in items),
        key=lambda m: (m["ticker"], m["as_of"], m.get("kind", ""), m.get("reason") or ""),
    )
    assert len(local.forecasts) > 300 and len(local.scores) == len(local.forecasts) - 2
    # To the last bit: points, intervals (ACI), scores with their rolling figures, and alerts.
    assert dump(local.forecasts) == dump(stream.forecasts)
    assert dump(local.scores) == dump(stream.scores)
    assert dump(local.alerts) == dump(stream.alerts)
    assert local.scored == stream.scored == len(local.scores)
    assert stream.repeats == 0


def _end_offsets(kafka: KafkaSettings, topics: list[str]) -> dict:
    """End offset of every partition of `topics`; each topic must exist."""

    async def read() -> dict:
        consumer = bus.consumer(kafka)
        await consumer.start()
        try:
            await consumer.topics()  # fetches metadata for every topic
            parts = []
            for topic in topics:
                partitions = consumer.partitions_for_topic(topic)
                assert partitions, f"{topic} has no partitions"
                parts += [TopicPartition(topic, p) for p in partitions]
            return await consumer.end_offsets(parts)
        finally:
            await consumer.stop()

    return asyncio.run(read())


def test_a_stream_backtest_leaves_live_topics_and_tables_alone(
    store, broker, tmp_path: Path
) -> None:
    settings = store.with_kafka(bootstrap_servers=broker.bootstrap)
    asyncio.run(bus.ensure_topics(settings.kafka))  # the live namespace
    live = [*settings.kafka.topics.values()]
    before = _end_offsets(settings.kafka, live)
    assert len(before) == len(live) * settings.kafka.partitions
    request = BacktestRequest(
        "synthetic", ["AAA"], date(2020, 3, 2), date(2020, 4, 30), engine="stream"
    )
    report = run_backtest(settings, request, lambda _: None)
    assert report["metrics"]["AAA"]["n"] > 30
    assert _end_offsets(settings.kafka, live) == before  # no live topic got a message

    async def names() -> list[str]:
        admin = bus.admin(settings.kafka)
        await admin.start()
        try:
            return await admin.list_topics()
        finally:
            await admin.close()

    topics = asyncio.run(names())
    assert "tickcast-ticker-state-changelog" not in topics  # the live table was never touched
    assert any(t.startswith("backtest-") and t.endswith("forecasts") for t in topics)


def test_report_files_hold_the_figures(store, tmp_path: Path) -> None:
    out = tmp_path / "report"
    request = BacktestRequest(
        "synthetic", TICKERS, date(2020, 3, 2), date(2020, 6, 30), engine="local", out=out
    )
    report = run_backtest(store, request, lambda _: None)
    saved = json.loads((out / "report.json").read_text())
    assert saved["metrics"] == json.loads(json.dumps(report["metrics"]))
    for scope in (*TICKERS, "overall"):
        m = saved["metrics"][scope]
        assert {
            "mae",
            "rmse",
            "mape",
            "mase",
            "direction_accuracy",
            "dm_statistic",
            "dm_pvalue",
            "drift_alerts",
            "mae_in_drift",
            "mae_outside_drift",
        } <= set(m)
    assert m["mase"] == pytest.approx(m["mae"] / m["naive_mae"])
    markdown = (out / "report.md").read_text()
    assert "| AAA |" in markdown and "Diebold-Mariano" in markdown and "synthetic" in markdown
    assert all((out / f"{t}.png").stat().st_size > 5_000 for t in TICKERS)
    assert report["mlflow_run_id"]
    # Counted, not kept: every forecast but each ticker's last met its close.
    assert report["scores"] == report["forecasts"] - len(TICKERS) > 0


def test_walk_forward_retrains_every_n_trading_days(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, max_epochs=1, hidden_size=8)
    request = BacktestRequest(
        "synthetic", ["AAA"], date(2020, 1, 2), date(2020, 3, 31), engine="local", retrain_every=25
    )
    said: list[str] = []
    report = run_backtest(settings, request, said.append)
    days = len(trading_days(date(2020, 1, 2), date(2020, 3, 31)))  # 62 B3 sessions
    assert report["retrains"] == -(-days // 25) == 3
    assert sum("retrained for" in s for s in said) == 3
    assert report["metrics"]["AAA"]["n"] == days
    assert report["scores"] == report["forecasts"] - 1  # counted across the retrained blocks


def test_plots_are_drawn_for_at_most_max_plots_tickers_unless_asked(store, tmp_path: Path) -> None:
    capped = store.model_copy(
        update={"backtest": store.backtest.model_copy(update={"max_plots": 1})}
    )
    said: list[str] = []
    for plots, folder in ((None, "default"), (True, "asked")):
        request = BacktestRequest(
            "synthetic",
            TICKERS,
            date(2020, 3, 2),
            date(2020, 4, 30),
            engine="local",
            out=tmp_path / folder,
            plots=plots,
        )
        report = run_backtest(capped, request, said.append)
        assert report["plots"] is (plots is True)
    assert not list((tmp_path / "default").glob("*.png"))
    assert {p.name for p in (tmp_path / "asked").glob("*.png")} == {
        f"{t}{kind}.png" for t in TICKERS for kind in ("", ".fan", ".reliability")
    }
    # Said once, for the run that skipped them, with the way to ask for them.
    assert [s for s in said if "PNG" in s] == [
        "no PNGs: 2 tickers is more than TICKCAST_BACKTEST__MAX_PLOTS (1); pass --plots to "
        "draw them"
    ]


HEAVY = ("torch", "lightning", "matplotlib")
# Runs `tickcast ARGS` in this interpreter, then prints which of HEAVY it loaded.
COMMAND_PROBE = f"""
import json, runpy, sys
sys.argv = ["tickcast", *sys.argv[1:]]
try:
    runpy.run_module("tickcast", run_name="__main__")
except SystemExit as exc:
    if exc.code:
        raise
print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))
"""


def loaded_by_command(settings, *args: str) -> list[str]:
    """Which of HEAVY the whole `tickcast ARGS` process imported, on the store of `settings`."""
    env = {
        "TICKCAST_DATA__DIR": str(settings.data.dir),
        "TICKCAST_MLFLOW__TRACKING_URI": settings.mlflow.tracking_uri,
    }
    return run_probe(COMMAND_PROBE, *args, env=env)


RANGE = (
    "--source",
    "synthetic",
    "--tickers",
    "AAA",
    "--start",
    "2020-03-02",
    "--end",
    "2020-04-30",
)


def test_backtest_and_evaluate_load_no_training_or_plotting_library_they_do_not_use(
    store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Torch and Lightning only for --retrain-every, matplotlib only when a PNG is written."""
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    local = ("backtest", "--engine", "local", *RANGE, "--json")
    assert loaded_by_command(store, *local, "--no-plots") == []
    assert loaded_by_command(store, "evaluate", *RANGE, "--json") == []
    # The probe sees matplotlib when plots are drawn (one ticker: drawn by default).
    assert loaded_by_command(store, *local, "--out", str(tmp_path)) == ["matplotlib"]
    assert (tmp_path / "AAA.png").is_file()


def test_the_local_replay_keeps_the_locations_a_second_pass_gives(store) -> None:
    """The report's unshrunk figures read each forecast's location from the replay: the
    same bits as the network run once more over every window of the range."""
    from backtest.engines import LocationRecorder
    from backtest.run import _locations

    start, end = date(2020, 3, 2), date(2020, 6, 30)
    data = load_prices("synthetic", TICKERS, store.data, date(2019, 10, 1), end)
    predictor = Predictor.load(store, synthetic=True)
    recorder = LocationRecorder(predictor.forecaster)
    replay = run_local(ticks_in_order(data.frames, data.source), recorder.forecaster(), store)
    request = BacktestRequest("synthetic", TICKERS, start, end, engine="local")
    second = _locations(predictor.bundle, data, request)
    kept = {(f.ticker, f.as_of) for f in replay.forecasts if (f.ticker, f.as_of) in second}
    assert len(kept) > 100
    assert {k: recorder.locations[k] for k in kept} == {k: second[k] for k in kept}
    assert recorder.window == predictor.forecaster.window  # the rest is the Forecaster's


def _spy_on_replays(monkeypatch: pytest.MonkeyPatch) -> list:
    import backtest.run as run

    folders: list = []
    real = run._replay_and_score

    def spy(*args, **kwargs):
        folders.append(args[1] if len(args) > 1 else kwargs.get("folder"))
        return real(*args, **kwargs)

    monkeypatch.setattr(run, "_replay_and_score", spy)
    return folders


def test_a_local_backtest_starts_on_the_version_the_registry_named_last(
    store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without waiting for the MLflow child; its answer confirms the guess, once replayed."""
    from model.fetch import cache_root

    request = BacktestRequest(
        "synthetic", ["AAA"], date(2020, 3, 2), date(2020, 4, 30), engine="local"
    )
    first = run_backtest(store, request, lambda _: None)
    folders = _spy_on_replays(monkeypatch)
    second = run_backtest(store, request, lambda _: None)
    [folder] = folders  # one replay, on the remembered folder
    assert folder is not None and folder.parent == cache_root(store)
    assert second["metrics"] == first["metrics"] and second["model"] == first["model"]


def test_a_version_the_registry_no_longer_names_is_replayed_again_on_its_own(
    store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The alias moved since the last answer: the figures are those of the version it names
    now, never those of the remembered one."""
    import shutil

    from model.fetch import REFS, Resolved, cache_root, read_record, write_record

    request = BacktestRequest(
        "synthetic", ["AAA"], date(2020, 3, 2), date(2020, 4, 30), engine="local"
    )
    named = run_backtest(store, request, lambda _: None)
    cache = cache_root(store)
    memo = cache / REFS / f"{store.mlflow.synthetic_alias}.json"  # synthetic prices' alias
    answer = Resolved.model_validate_json(memo.read_text())
    # A version 99 in the cache, from another run, that the memo says the alias named.
    other = cache / "99"
    shutil.copytree(cache / answer.version, other)
    write_record(other, read_record(other).model_copy(update={"version": "99", "run_id": "x"}))
    memo.write_text(Resolved(version="99", run_id="x").model_dump_json())
    folders = _spy_on_replays(monkeypatch)
    report = run_backtest(store, request, lambda _: None)
    assert folders == [other, None]  # guessed 99, then the registry's own
    assert report["model"] == named["model"] and report["metrics"] == named["metrics"]
    # The registry's answer is remembered again.
    again = Resolved.model_validate_json(memo.read_text())
    assert (again.version, again.run_id) == (answer.version, answer.run_id)
    shutil.rmtree(other)


def test_garch_fits_run_beside_the_replay_and_give_the_same_report(
    store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With many tickers, every GARCH fit is made in other processes while the local replay
    runs (the report then fits none), and the figures are those of fits made in process.
    The replay is shared with a forked child meanwhile, beside the fitting pool's threads."""
    import backtest.engines
    import backtest.report

    tickers = [f"G{i:02d}" for i in range(2 * MIN_FITS_PER_PROCESS + 1)]
    request = BacktestRequest(
        "synthetic", tickers, date(2020, 3, 2), date(2020, 5, 29), engine="local", plots=False
    )
    after_replay: list[int] = []
    real = backtest.report.prefit_garch

    def counting(*args, **kwargs) -> int:
        after_replay.append(real(*args, **kwargs))
        return after_replay[-1]

    monkeypatch.setattr(backtest.report, "prefit_garch", counting)
    splits: list[int] = []
    real_split = backtest.engines._split

    def splitting(shares, *args):  # type: ignore[no-untyped-def]
        splits.append(len(shares))
        return real_split(shares, *args)

    monkeypatch.setattr(backtest.engines, "_split", splitting)
    kept = store.data.cache_dir / GARCH_FITS
    shutil.rmtree(kept, ignore_errors=True)
    report = run_backtest(_split(store, 2), request, lambda _: None)
    assert after_replay == [0]  # every fit was on disk when the report asked
    assert len(list(kept.glob("*.json"))) == len(tickers)
    assert splits == [2]

    shutil.rmtree(kept)
    alone = _split(store, 1, fit_processes=1)
    assert run_backtest(alone, request, lambda _: None)["metrics"] == report["metrics"]
    assert splits == [2]  # one process: no split


def test_the_report_is_built_with_the_collector_paused_and_drawn_with_it_running(
    store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The replay's messages go by reference counting before the collector runs again: its
    passes would otherwise scan every one of them. Plots (matplotlib makes cycles) and
    whatever comes after run with it on."""
    import gc

    import backtest.run as run

    seen: dict[str, bool] = {}
    build, write = run.build_report, run.write_outputs

    def building(*args, **kwargs) -> dict:
        seen["report"] = gc.isenabled()
        return build(*args, **kwargs)

    def writing(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen["files"] = gc.isenabled()
        return write(*args, **kwargs)

    monkeypatch.setattr(run, "build_report", building)
    monkeypatch.setattr(run, "write_outputs", writing)
    request = BacktestRequest(
        "synthetic", ["AAA"], date(2020, 3, 2), date(2020, 4, 30), engine="local", out=tmp_path
    )
    assert gc.isenabled()
    run_backtest(store, request, lambda _: None)
    assert seen == {"report": False, "files": True}
    assert gc.isenabled()


def _split(store, processes: int, **backtest):
    """`store` replaying in `processes` processes from `split_min_closes` closes on."""
    update = {"replay_processes": processes, "split_min_closes": 1, **backtest}
    return store.model_copy(update={"backtest": store.backtest.model_copy(update=update)})


SPLIT_TICKERS = ["AAA", "BBB", "CCC", "DDD", "EEE"]


@pytest.fixture(scope="module")
def split_ticks(store):
    data = load_prices("synthetic", SPLIT_TICKERS, store.data, date(2019, 10, 1), date(2020, 9, 30))
    return ticks_in_order(data.frames, data.source)


def test_a_replay_shared_among_processes_sends_the_same_messages_in_the_same_order(
    store, split_ticks
) -> None:
    """Tickers go to forked children and come back merged by offset: the very list one
    process makes, the network's locations included, and the progress counts every close."""
    from backtest.engines import LocationRecorder

    dump = lambda items: [m.model_dump(mode="json", exclude={"produced_at"}) for m in items]  # noqa: E731
    predictor = Predictor.load(store, synthetic=True)
    alone, shared = LocationRecorder(predictor.forecaster), LocationRecorder(predictor.forecaster)
    one = run_local(split_ticks, alone.forecaster(), store)
    seen: list[tuple[int, int]] = []
    three = run_local(
        split_ticks,
        shared.forecaster(),
        _split(store, 3),
        progress=lambda done, total: seen.append((done, total)),
        processes=3,
    )
    assert len(one.forecasts) > 900 and len(one.alerts) > 0
    assert dump(three.forecasts) == dump(one.forecasts)
    assert dump(three.scores) == dump(one.scores)
    assert dump(three.alerts) == dump(one.alerts)
    assert shared.locations == alone.locations
    assert seen[-1] == (len(split_ticks), len(split_ticks))
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


def test_a_replay_that_only_counts_its_scores_sends_the_same_forecasts_and_alerts(
    store, split_ticks
) -> None:
    """A backtest's report reads no score message, so its replay builds none: the history,
    ACI and performance tests behind the forecasts and alerts move all the same."""
    dump = lambda items: [m.model_dump(mode="json", exclude={"produced_at"}) for m in items]  # noqa: E731
    predictor = Predictor.load(store, synthetic=True)
    full = run_local(split_ticks, predictor.forecaster, store)
    counted = run_local(split_ticks, predictor.forecaster, store, scores=False)
    shared = run_local(
        split_ticks, predictor.forecaster, _split(store, 2), processes=2, scores=False
    )
    assert full.scored == len(full.scores) > 900 and len(full.alerts) > 0
    for replay in (counted, shared):
        assert replay.scores == [] and replay.scored == full.scored
        assert dump(replay.forecasts) == dump(full.forecasts)
        assert dump(replay.alerts) == dump(full.alerts)


def test_a_replay_process_that_dies_or_fails_is_named_with_the_way_out(
    store, split_ticks, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    import backtest.engines as engines
    from backtest.engines import BacktestError

    predictor = Predictor.load(store, synthetic=True)
    settings = _split(store, 2)
    with monkeypatch.context() as patch:
        patch.setattr(engines, "_child", lambda *args: os._exit(9))  # killed, say, by the OOM
        with pytest.raises(BacktestError, match=r"without its results \(exit code 9\); run again"):
            run_local(split_ticks, predictor.forecaster, settings, processes=2)

    parent, real = os.getpid(), engines._replay

    def failing_in_the_child(*args):  # type: ignore[no-untyped-def]
        if os.getpid() != parent:
            raise ValueError("no room left on the device")
        return real(*args)

    monkeypatch.setattr(engines, "_replay", failing_in_the_child)
    with pytest.raises(BacktestError, match="failed: ValueError: no room left on the device"):
        run_local(split_ticks, predictor.forecaster, settings, processes=2)


def test_a_replay_child_runs_with_the_collector_paused_as_its_parent_does(
    store, split_ticks, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc
    import os

    import backtest.engines as engines

    parent, real = os.getpid(), engines._replay

    def checking(*args):  # type: ignore[no-untyped-def]
        if gc.isenabled():
            raise AssertionError(
                f"collector on in {'the parent' if os.getpid() == parent else 'a child'}"
            )
        return real(*args)

    monkeypatch.setattr(engines, "_replay", checking)
    predictor = Predictor.load(store, synthetic=True)
    assert run_local(split_ticks, predictor.forecaster, _split(store, 2), processes=2).forecasts
    assert gc.isenabled()


def test_ctrl_c_is_the_commands_to_handle_not_its_replay_childs(
    store, split_ticks, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C reaches the whole process group: a child that took it would die with a
    traceback of its own; it ignores it, and the command stops its children itself."""
    import os
    import signal

    import backtest.engines as engines

    parent, real = os.getpid(), engines._replay

    def interrupted_in_the_child(*args):  # type: ignore[no-untyped-def]
        if os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGINT)
        return real(*args)

    monkeypatch.setattr(engines, "_replay", interrupted_in_the_child)
    predictor = Predictor.load(store, synthetic=True)
    shared = run_local(split_ticks, predictor.forecaster, _split(store, 2), processes=2)
    alone = run_local(split_ticks, predictor.forecaster, store)
    assert len(shared.forecasts) == len(alone.forecasts) > 900


def test_a_short_replay_or_one_that_goes_on_from_states_stays_in_one_process(
    store, split_ticks, monkeypatch: pytest.MonkeyPatch
) -> None:
    import backtest.engines as engines

    def refused(*args):  # type: ignore[no-untyped-def]
        raise AssertionError("split")

    monkeypatch.setattr(engines, "_split", refused)
    predictor = Predictor.load(store, synthetic=True)
    short = _split(store, 2, split_min_closes=len(split_ticks) + 1)
    assert run_local(split_ticks, predictor.forecaster, short, processes=2).forecasts
    states: dict = {}
    assert run_local(split_ticks, predictor.forecaster, _split(store, 2), states, processes=2)
    assert set(states) == set(SPLIT_TICKERS)  # walk-forward reads them for its next block
