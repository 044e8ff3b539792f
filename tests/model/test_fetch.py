"""The local model cache and the child that fills it: a serving process loads a registered
model without importing MLflow, versions are fetched once per run, and `up`'s start choice is
read at start only. Real sqlite MLflow stores, real child processes."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from core.config import MlflowSettings, Settings
from model import fetch as fetching
from model.errors import ModelNotFoundError
from model.fetch import (
    SETTLED_NS,
    StartChoice,
    cache_root,
    cached,
    fetch,
    fetch_in_child,
    fetch_in_process,
    read_record,
    remember_when_settled,
    store_stamp,
    unchanged,
    write_choice,
)
from model.predictor import Predictor
from model.training import train
from tests.probes import run_probe
from tests.utils.factories import ar1_frame, make_settings, price_data

# A fresh interpreter loads the champion as the worker does, then says what it imported.
PROBE = """
import json, sys
from core.config import Settings
from model.predictor import Predictor
settings = Settings(data={"dir": sys.argv[1]}, mlflow={"tracking_uri": sys.argv[2]})
predictor = Predictor.load(settings)
window = [20.0 + 0.01 * i for i in range(predictor.window)]
print(json.dumps({
    "version": predictor.version,
    "forecast": float(predictor.predict([window])[0]),
    "loaded": [m for m in ("mlflow", "torch", "lightning") if m in sys.modules],
}))
"""


def trained(root: Path, seed: int = 3) -> Settings:
    settings = make_settings(root)
    train(price_data({"CALM": ar1_frame(n=400, seed=seed)}), settings, progress=False)
    return settings


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return trained(tmp_path_factory.mktemp("store"))


def test_a_serving_process_loads_the_champion_without_importing_mlflow(store: Settings) -> None:
    seen = run_probe(PROBE, str(store.data.dir), store.mlflow.tracking_uri)
    assert seen["loaded"] == []
    assert seen["version"] == "1"
    # the same model as MLflow's own download gives, in this process
    here = Predictor.load(store)
    window = [20.0 + 0.01 * i for i in range(here.window)]
    assert seen["forecast"] == pytest.approx(float(here.predict([window])[0]), abs=0.0)


def test_a_version_is_fetched_once_and_its_aliases_kept_current(store: Settings) -> None:
    cache = cache_root(store)
    first = fetch_in_child(store.mlflow, cache, "champion")
    bundle_written = (first / "bundle" / "model.onnx").stat().st_mtime_ns
    again = fetch_in_child(store.mlflow, cache, "1")
    assert again == first == cached(cache, "1")
    assert (again / "bundle" / "model.onnx").stat().st_mtime_ns == bundle_written
    record = read_record(again)
    assert record.aliases == ["champion"]
    assert record.trained_on is not None and record.trained_on.tickers == ["CALM"]


def test_an_unknown_alias_is_a_not_found_error_naming_it(store: Settings) -> None:
    with pytest.raises(ModelNotFoundError, match="'nowhere'"):
        fetch_in_child(store.mlflow, cache_root(store), "nowhere")


def test_a_cached_copy_from_another_run_is_fetched_again(store: Settings) -> None:
    """A store made anew at the same place numbers its versions from 1 again: a cached v1 of
    another run (as the old store left it) is replaced, never served."""
    cache = cache_root(store)
    folder = fetch_in_process(store.mlflow, cache, "1")
    real = read_record(folder)
    stale = real.model_copy(update={"run_id": "a-run-of-the-old-store"})
    (folder / "record.json").write_text(stale.model_dump_json())
    again = read_record(fetch_in_process(store.mlflow, cache, "1"))
    assert again.run_id == real.run_id


def test_the_start_choice_is_awaited_then_used_at_the_first_load_only(
    store: Settings, tmp_path: Path
) -> None:
    choice_file = tmp_path / "choice.json"
    settings = store.model_copy(
        update={"mlflow": store.mlflow.model_copy(update={"start_choice": str(choice_file)})}
    )
    fetch_in_process(settings.mlflow, cache_root(settings), "1")
    loaded: list[Predictor] = []
    loader = threading.Thread(target=lambda: loaded.append(Predictor.load(settings)))
    loader.start()
    time.sleep(0.5)
    assert not loaded  # waiting for `up` to choose
    write_choice(choice_file, StartChoice(ref="champion", version="1"))
    loader.join(30)
    assert [p.version for p in loaded] == ["1"]
    # later loads read the registry: a choice naming a version the store lacks is not used
    write_choice(choice_file, StartChoice(ref="champion", version="99"))
    assert Predictor.load(settings).version == "1"


def test_the_cached_model_forecasts_as_the_registry_copy(store: Settings) -> None:
    """Bundle and calibration survive the copy into the cache bit for bit."""
    from model import registry

    folder = fetch_in_process(store.mlflow, cache_root(store), "1")
    direct = registry.fetch(registry.connect(store.mlflow), store.mlflow.model_name, "1").bundle
    cached_predictor = Predictor.from_cache(store, folder)
    rng = np.random.default_rng(0)
    windows = 20.0 * np.exp(np.cumsum(rng.normal(0, 0.01, (50, direct.window)), axis=1))
    assert np.array_equal(
        cached_predictor.bundle.predict_prices(windows), direct.predict_prices(windows)
    )


def settled(settings: Settings) -> None:
    """Wait until the store's last write is old enough for a read of it to be remembered."""
    age = time.time_ns() - (store_stamp(settings.mlflow) or [0])[0]
    time.sleep(max(0.0, (SETTLED_NS - age) / 1e9 + 0.05))


def no_registry(*_: object) -> Path:
    raise AssertionError("the registry was read")


def test_an_unchanged_store_is_not_read_again_and_any_write_to_it_is(
    store: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker's restart skips the seconds of a child that imports MLflow, unless the store
    changed: a new version or a moved alias is a write, and so is this tag."""
    settled(store)
    first = fetch(store, "champion")  # reads the registry, and remembers what it said
    with monkeypatch.context() as patched:
        patched.setattr(fetching, "fetch_in_process", no_registry)
        patched.setattr(fetching, "fetch_in_child", no_registry)
        assert fetch(store, "champion") == first
    from model import registry

    client = registry.connect(store.mlflow)
    client.set_registered_model_tag(store.mlflow.model_name, "touched", "yes")
    assert unchanged(store.mlflow, cache_root(store), "champion") is None
    monkeypatch.setattr(fetching, "fetch_in_process", no_registry)
    monkeypatch.setattr(fetching, "fetch_in_child", no_registry)
    with pytest.raises(AssertionError, match="registry was read"):
        fetch(store, "champion")


def test_what_an_alias_names_is_remembered_now_or_once_the_store_settles(
    store: Settings,
) -> None:
    """`up` that has just trained reads the alias right after moving it: a record read then
    cannot vouch, so it is read once the store stood still, and the next `up` skips MLflow.
    On a settled store it is read at once."""
    from model import registry

    cache = cache_root(store)
    client = registry.connect(store.mlflow)
    client.set_registered_model_tag(store.mlflow.model_name, "trained", "just now")
    assert unchanged(store.mlflow, cache, "champion") is None  # the store was just written
    timer = remember_when_settled(store, "champion")
    assert timer is not None and timer.daemon
    timer.join(timeout=30)
    assert unchanged(store.mlflow, cache, "champion") == cached(cache, "1")
    (cache / "refs" / "champion.json").unlink()
    assert remember_when_settled(store, "champion") is None  # settled: read at once
    assert unchanged(store.mlflow, cache, "champion") == cached(cache, "1")


def fake_store(tmp_path: Path, age_s: float) -> MlflowSettings:
    """A file standing in for a sqlite store, last written `age_s` ago."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "mlflow.db"
    path.write_bytes(b"x" * 100)
    written = time.time_ns() - int(age_s * 1e9)
    os.utime(path, ns=(written, written))
    return MlflowSettings(tracking_uri=f"sqlite:///{path}")


def remembered(mlflow: MlflowSettings, cache: Path, during: Callable[[], object] = list) -> bool:
    """Whether a read of `mlflow` that ran `during` was remembered for the next start."""
    (cache / "1" / "bundle").mkdir(parents=True, exist_ok=True)
    (cache / "1" / "record.json").write_text(fetching.ModelRecord(version="1").model_dump_json())
    stamp, taken = store_stamp(mlflow), time.time_ns()  # as fetch_in_process takes them
    during()
    fetching._remember(cache, "champion", cache / "1", stamp, taken)
    return unchanged(mlflow, cache, "champion") is not None


def test_a_read_is_remembered_only_when_the_store_stood_still(tmp_path: Path) -> None:
    quiet = fake_store(tmp_path / "a", age_s=60)
    assert remembered(quiet, tmp_path / "cache-a")
    # written while the registry was read: what was read may be the state before the write
    busy = fake_store(tmp_path / "b", age_s=60)
    path = Path(busy.tracking_uri.removeprefix("sqlite:///"))
    assert not remembered(busy, tmp_path / "cache-b", during=lambda: path.write_bytes(b"y" * 101))
    # written just before: a second write in the same tick of the clock could go unseen
    recent = fake_store(tmp_path / "c", age_s=0.2)
    assert not remembered(recent, tmp_path / "cache-c")


def test_only_a_sqlite_store_is_stamped(tmp_path: Path) -> None:
    assert store_stamp(MlflowSettings(tracking_uri="http://127.0.0.1:5000")) is None
    assert store_stamp(MlflowSettings(tracking_uri=f"sqlite:///{tmp_path}/none.db")) is None
    assert len(store_stamp(fake_store(tmp_path, age_s=5)) or []) == 4


# `up`'s choice in a fresh interpreter, as `up` makes it before anything else is loaded.
CHOICE_PROBE = """
import json, sys
from core.config import Settings
from model.serving import cached_choice
from tests.utils.factories import ar1_frame, price_data
settings = Settings(data={"dir": sys.argv[1]}, mlflow={"tracking_uri": sys.argv[2]})
choice = cached_choice(settings, price_data({"CALM": ar1_frame(n=100)}))
print(json.dumps({"choice": choice and [choice.ref, choice.version, choice.line],
                  "loaded": [m for m in ("mlflow", "torch") if m in sys.modules]}))
"""


def test_up_chooses_a_fitting_model_from_the_cache_without_mlflow(store: Settings) -> None:
    from model import serving

    settled(store)
    fetch(store, "champion")  # what a worker, the API or an earlier `up` left in the cache
    seen = run_probe(CHOICE_PROBE, str(store.data.dir), store.mlflow.tracking_uri)
    assert seen["loaded"] == []
    ref, version, line = seen["choice"]
    assert (ref, version) == ("champion", "1")
    assert line.startswith("serving champion v1, trained on")
    # Prices the model never saw: the registry decides (it may know a version that fits).
    frame = ar1_frame(n=100)
    assert serving.cached_choice(store, price_data({"CALM": frame, "OTHER": frame})) is None
    assert serving.cached_choice(store, price_data({"CALM": frame})) is not None


# A stand-in for the MLflow child of `backtest` and `evaluate`: slow to answer its opening,
# then one line for it and one for the run it logs.
SLOW_CHILD = """
import json, sys, time
sys.stdin.readline()
time.sleep(30)
print(json.dumps({"folder": sys.argv[1]}), flush=True)
sys.stdin.readline()
print('{"run_id": "the-run"}', flush=True)
"""


def test_a_command_does_not_wait_for_the_registry_when_the_cache_vouches(
    store: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`evaluate` starts on the model at once; `backtest` still logs its run, reading the
    child's answer to the opening first."""
    import subprocess
    import sys

    from model import tracking_start
    from model.tracking import RunRecord, Tracking

    settled(store)
    folder = fetch(store, "champion")

    def stand_in(code: str) -> None:
        """The child every Tracking below adopts: `code`, answering with `folder`."""
        monkeypatch.setattr(
            tracking_start,
            "adopt",
            lambda: subprocess.Popen(
                [sys.executable, "-c", code, str(folder)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            ),
        )

    stand_in(SLOW_CHILD)
    with Tracking(store, "champion") as tracking:
        began = time.monotonic()
        assert tracking.model_folder() == folder
        assert time.monotonic() - began < 5  # the child answers after 30 s
    stand_in(SLOW_CHILD.replace("time.sleep(30)", ""))
    with Tracking(store, "champion") as tracking:
        assert tracking.model_folder() == folder
        assert tracking.log(RunRecord(experiment="x", run_name="y")) == "the-run"
