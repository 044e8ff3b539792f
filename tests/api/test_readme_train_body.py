"""The README's `/train` example is a body the API accepts, with every field it can take."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from api.sources import allowed_source
from core.config import ApiSettings, Hyperparameters
from schemas.api import TrainRequest
from tests.utils.factories import SHARED_DATA

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCK = re.compile(r"```bash\n(.*?)```", re.DOTALL)
BODY = re.compile(r"-d '(\{.*?\})'", re.DOTALL)


def readme_train_body() -> dict:
    """The JSON after `-d` in the API section's curl that posts to /train."""
    section = README.read_text().split("## The API", 1)[1].split("\n## ", 1)[0]
    posts = [b for b in BLOCK.findall(section) if "curl -X POST" in b and "/train" in b]
    assert len(posts) == 1, "expected one curl POST to /train in the README's API section"
    assert "Authorization: Bearer $TICKCAST_API__TOKEN" in posts[0]
    return json.loads(BODY.search(posts[0]).group(1))


def test_the_readme_train_body_is_valid_and_complete() -> None:
    body = readme_train_body()
    request = TrainRequest.model_validate(body)

    assert set(body) == set(TrainRequest.model_fields)
    assert set(body["hyperparameters"]) == set(Hyperparameters.model_fields)
    # Ranges and the split fractions are checked when the overrides are merged, as /train does.
    merged = Hyperparameters().with_overrides(request.hyperparameters.model_dump())
    assert merged.model_dump() == body["hyperparameters"]
    assert request.start < request.valid_start < request.test_start <= request.end


def test_the_readme_train_source_is_allowed_in_the_shared_data_folder() -> None:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent: the README's source names a file there")
    body = readme_train_body()
    settings = ApiSettings(train_data_dir=SHARED_DATA)

    assert allowed_source(body["source"], body["tickers"], settings).startswith("csv:")
