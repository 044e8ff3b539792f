"""POST /train reads CSV files only inside `api.train_data_dir`, and never says what else exists."""

from __future__ import annotations

import builtins
import io
import os
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.sources import SourceNotAllowed, allowed_source
from core.config import ApiSettings
from producers.sources import load_prices
from tests.api.conftest import AUTH, TINY_JOB, wait_for_job
from tests.utils.factories import make_settings


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """The training data folder, holding AAA.csv (two synthetic years) and a subfolder."""
    folder = tmp_path / "train-data"
    (folder / "more").mkdir(parents=True)
    settings = make_settings(tmp_path / "gen")
    frame = load_prices(
        "synthetic", ["AAA"], settings.data, date(2018, 1, 2), date(2019, 12, 31)
    ).frames["AAA"]
    frame.to_csv(folder / "AAA.csv", index=False, date_format="%Y-%m-%d")
    frame.to_csv(folder / "more" / "AAA.csv", index=False, date_format="%Y-%m-%d")
    return folder


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A CSV outside the data folder that a client must not be able to read or detect."""
    path = tmp_path / "outside" / "secret.csv"
    path.parent.mkdir()
    path.write_text("date,close\n2024-01-02,10.0\n")
    return path


@pytest.fixture
def opened() -> Iterator[list[str]]:
    """Every path this process opens while the test runs (builtins.open, io.open, os.open)."""
    seen: list[str] = []
    originals = (builtins.open, io.open, os.open)

    def spy(original: Callable) -> Callable:
        def opening(file: object, *args: object, **kwargs: object) -> object:
            seen.append(os.fsdecode(file) if isinstance(file, (str, bytes, Path)) else str(file))
            return original(file, *args, **kwargs)

        return opening

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(builtins, "open", spy(originals[0]))
        patch.setattr(io, "open", spy(originals[1]))
        patch.setattr(os, "open", spy(originals[2]))
        yield seen


def _post(client: TestClient, source: str, tickers: tuple[str, ...] = ("AAA",)):
    return client.post(
        "/train", json={**TINY_JOB, "source": source, "tickers": tickers}, headers=AUTH
    )


def _outside_specs(data_dir: Path, secret: Path) -> dict[str, str]:
    link = data_dir / "link.csv"
    link.symlink_to(secret)
    (data_dir / "linked-folder").symlink_to(secret.parent, target_is_directory=True)
    return {
        "absolute, existing": f"csv:{secret}",
        "absolute, missing": f"csv:{secret.with_name('missing.csv')}",
        "dot-dot, existing": f"csv:../outside/{secret.name}",
        "dot-dot, missing": "csv:../outside/missing.csv",
        "symlink inside to a file outside": f"csv:{link.name}",
        "symlinked folder": "csv:linked-folder",
        "passwd": "csv:/etc/passwd",
        "environ": "csv:/proc/self/environ",
        "missing inside": "csv:NOPE.csv",
        "folder without the ticker's file": "csv:more",
    }


def test_a_source_outside_the_data_folder_is_refused_unopened_in_one_wording(
    client_for: Callable[..., TestClient], data_dir: Path, secret: Path, opened: list[str]
) -> None:
    client = client_for(empty=True, train_data_dir=data_dir)
    specs = _outside_specs(data_dir, secret)
    (data_dir / "more" / "AAA.csv").unlink()  # the folder exists, its AAA.csv does not
    opened.clear()
    answers = {name: _post(client, spec) for name, spec in specs.items()}

    assert {name: a.status_code for name, a in answers.items()} == dict.fromkeys(specs, 422)
    details = {a.json()["detail"] for a in answers.values()}
    assert len(details) == 1, details  # existing and missing read the same
    (detail,) = details
    assert "TICKCAST_API__TRAIN_DATA_DIR" in detail
    assert str(data_dir) not in detail and str(secret.parent) not in detail
    assert client.app.state.jobs.running is None  # no training process was started
    touched = [p for p in opened if "secret" in p or "passwd" in p or "environ" in p]
    assert touched == [], touched


def test_without_a_data_folder_only_yahoo_and_synthetic_are_accepted(
    client_for: Callable[..., TestClient], data_dir: Path
) -> None:
    client = client_for(empty=True)  # train_data_dir unset
    refused = _post(client, f"csv:{data_dir / 'AAA.csv'}")

    assert refused.status_code == 422
    assert "TICKCAST_API__TRAIN_DATA_DIR is not set" in refused.json()["detail"]
    assert str(data_dir) not in refused.text
    assert client.app.state.jobs.running is None


def test_files_over_the_size_cap_are_refused(data_dir: Path) -> None:
    size = (data_dir / "AAA.csv").stat().st_size
    roomy = ApiSettings(train_data_dir=data_dir, max_train_bytes=size)
    tight = ApiSettings(train_data_dir=data_dir, max_train_bytes=size - 1)

    assert allowed_source("csv:AAA.csv", ["AAA"], roomy) == f"csv:{data_dir / 'AAA.csv'}"
    with pytest.raises(SourceNotAllowed):
        allowed_source("csv:AAA.csv", ["AAA"], tight)
    (data_dir / "BBB.csv").write_bytes((data_dir / "AAA.csv").read_bytes())
    with pytest.raises(SourceNotAllowed):  # a folder counts every ticker's file
        allowed_source("csv:.", ["AAA", "BBB"], roomy)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("csv:AAA.csv", "AAA.csv"),
        ("csv:more/../AAA.csv", "AAA.csv"),
        ("csv:more", "more"),
        ("csv:.", ""),
        ("csv:more?sep=%2C", "more?sep=%2C"),
    ],
)
def test_names_inside_the_folder_resolve_to_absolute_paths(
    data_dir: Path, spec: str, expected: str
) -> None:
    settings = ApiSettings(train_data_dir=data_dir)
    resolved = allowed_source(spec, ["AAA"], settings)

    assert resolved == f"csv:{data_dir.resolve() / expected}".rstrip("/")
    absolute = allowed_source(f"csv:{data_dir / 'AAA.csv'}", ["AAA"], settings)
    assert absolute == f"csv:{data_dir.resolve() / 'AAA.csv'}"
    assert allowed_source("synthetic", ["AAA"], settings) == "synthetic"


def test_a_csv_inside_the_folder_trains_and_its_path_stays_private(
    client_for: Callable[..., TestClient], data_dir: Path
) -> None:
    client = client_for(empty=True, train_data_dir=data_dir)
    started = _post(client, "csv:AAA.csv")

    assert started.status_code == 202, started.text
    done = wait_for_job(client, started.json()["job_id"])
    assert (done["state"], done["promoted"]) == ("succeeded", True), done
    info = client.get("/model/info").json()
    assert info["data_source"] == "csv:AAA.csv"
    assert str(data_dir) not in client.get("/model/info").text
