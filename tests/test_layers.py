"""The import-linter contract of `make lint` holds, and breaks on an import across the layers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("tickcast", "api", "backtest", "streams", "model", "producers", "schemas", "core")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    """Run the project's contract over a copy of its packages in `tree`."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    if not LINT_IMPORTS.exists():
        pytest.skip(
            "lint-imports is not installed: run `make install` (import-linter is a dev extra)"
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    return tmp_path


def test_the_code_keeps_the_layers(tree: Path) -> None:
    result = lint_imports(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "tickcast layers KEPT" in result.stdout


@pytest.mark.parametrize(
    ("module", "imports"),
    [
        ("core/probe.py", "model.forecaster"),  # the ground floor imports nothing of the project
        ("schemas/probe.py", "producers.calendar"),  # contracts sit below the producers
        ("model/probe.py", "streams.pipeline"),  # a lower layer never reaches up
        ("api/probe.py", "backtest.run"),  # api and backtest are independent
    ],
)
def test_an_import_across_the_layers_breaks_the_contract(
    tree: Path, module: str, imports: str
) -> None:
    (tree / module).write_text(f"import {imports}  # noqa: F401\n")
    result = lint_imports(tree)
    assert result.returncode != 0
    assert "tickcast layers BROKEN" in result.stdout
    probe = module.removesuffix(".py").replace("/", ".")
    assert f"{probe} -> {imports}" in result.stdout, result.stdout
