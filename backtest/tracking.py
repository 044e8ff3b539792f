"""A backtest's MLflow side, in a child process started before the backtest's own imports.

Importing MLflow and opening its store take about 1.8 s, more than one ticker's replay and
report. `python -m backtest.tracking` does both while the backtest loads pandas, SciPy and
ONNX Runtime on the other core; it then reads the registry for the model (into the local
model cache, `model.fetch`: the version the alias names now) and, at the end, logs the
backtest's run. One JSON line each way per step on stdin and stdout; the backtest itself
never imports MLflow.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, Field

from core.config import MlflowSettings, Settings
from core.errors import TickcastError
from model.errors import ModelError, ModelNotFoundError

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[1]  # the child runs this very code


class TrackingError(ModelError):
    """The MLflow child failed: the registry could not be read or the run not logged."""


class Opening(BaseModel):
    """The first line: the store, the model cache, and the model to fetch (None: none)."""

    mlflow: MlflowSettings
    cache: Path
    ref: str | None = None
    verbose: bool = False


class RunRecord(BaseModel):
    """The second line: what to log as the backtest's run."""

    experiment: str
    run_name: str
    tags: dict[str, str] = Field(default_factory=dict)
    params: dict[str, str] = Field(default_factory=dict)
    metrics: dict[str, float] = Field(default_factory=dict)
    files: list[Path] = Field(default_factory=list)


class Reply(BaseModel):
    """The child's line after each step."""

    folder: Path | None = None
    run_id: str = ""
    error: str = ""
    not_found: bool = False


def model_ref(
    settings: Settings, source: str, model: str | None, retrain_every: int | None
) -> str | None:
    """The alias or version a backtest serves: `model`, else the served alias (synthetic
    prices: the synthetic one); None when it retrains its own (walk-forward)."""
    from producers.sources import parse_source

    if retrain_every is not None:
        return None
    synthetic = parse_source(source).kind == "synthetic"
    return model or (settings.mlflow.synthetic_alias if synthetic else settings.mlflow.served)


class Tracking:
    """The parent's end: start it first, then `model_folder()`, then `log()` once."""

    def __init__(self, settings: Settings, ref: str | None) -> None:
        from model.fetch import cache_root

        opening = Opening(
            mlflow=settings.mlflow,
            cache=cache_root(settings),
            ref=ref,
            verbose=logger.isEnabledFor(logging.INFO),
        )
        path = os.environ.get("PYTHONPATH", "")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), path]))}
        self.child = subprocess.Popen(
            [sys.executable, "-m", "backtest.tracking"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        self._send(opening)
        self.ref = ref

    def _send(self, message: BaseModel) -> None:
        assert self.child.stdin is not None
        try:
            self.child.stdin.write(message.model_dump_json() + "\n")
            self.child.stdin.flush()
        except OSError:  # it ended: its last reply line says why
            pass

    def _reply(self, step: str) -> Reply:
        assert self.child.stdout is not None
        line = self.child.stdout.readline()
        if not line:
            code = self.child.wait()
            raise TrackingError(f"the MLflow process ended before {step} (exit code {code})")
        reply = Reply.model_validate_json(line)
        if reply.not_found:
            raise ModelNotFoundError(reply.error)
        if reply.error:
            raise TrackingError(reply.error)
        return reply

    def model_folder(self) -> Path:
        """The cached folder of the version `ref` names in the registry now."""
        folder = self._reply(f"fetching {self.ref!r}").folder
        if folder is None:
            raise TrackingError(f"fetching {self.ref!r} gave no folder")
        return folder

    def log(self, record: RunRecord) -> str:
        """Log the run (its files must exist until this returns); its run id."""
        self._send(record)
        return self._reply("logging the backtest").run_id

    def close(self) -> None:
        if self.child.poll() is None:
            self.child.kill()
        self.child.wait()
        for stream in (self.child.stdin, self.child.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):  # a child that died leaves a broken pipe
                    stream.close()

    def __enter__(self) -> Tracking:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _log_run(mlflow_settings: MlflowSettings, record: RunRecord) -> str:
    import mlflow

    from model import registry

    client = registry.connect(mlflow_settings)
    if client.get_experiment_by_name(record.experiment) is None:
        # Beside the models' artifacts (run ids keep them apart), not in the cwd's ./mlruns,
        # where MLflow puts an experiment created without a location.
        client.create_experiment(
            record.experiment, artifact_location=mlflow_settings.artifact_location or None
        )
    with (
        registry.experiment(mlflow_settings, record.experiment),
        mlflow.start_run(run_name=record.run_name, tags=record.tags) as run,
    ):
        mlflow.log_params(record.params)
        mlflow.log_metrics({k: v for k, v in record.metrics.items() if math.isfinite(v)})
        for path in record.files:
            mlflow.log_artifact(str(path))
        return run.info.run_id


def _answer(step: Callable[[], Reply]) -> Reply:
    try:
        return step()
    except ModelNotFoundError as exc:
        return Reply(error=str(exc), not_found=True)
    except TickcastError as exc:
        return Reply(error=str(exc))
    except Exception as exc:  # one line for the parent; the traceback goes to stderr
        logger.exception("the backtest's MLflow step failed")
        return Reply(error=f"{type(exc).__name__}: {exc}")


def main() -> int:
    """The child: imports MLflow and opens the store at once, then answers each line."""
    from core.logs import setup_logging
    from model.fetch import fetch_in_process

    out, sys.stdout = sys.stdout, sys.stderr  # MLflow's own prints stay off the reply lines

    def say(reply: Reply) -> None:
        print(reply.model_dump_json(), file=out, flush=True)

    opening = Opening.model_validate_json(sys.stdin.readline())
    setup_logging(opening.verbose, registry=True)  # imports MLflow: what overlaps the parent
    # Opening the store waits for the fetch or the log: a walk-forward backtest trains in the
    # parent, and two processes must not create a new store's tables at once.
    if opening.ref is not None:
        ref = opening.ref
        say(_answer(lambda: Reply(folder=fetch_in_process(opening.mlflow, opening.cache, ref))))
    line = sys.stdin.readline()
    if not line:  # the backtest ended first (an error, or Ctrl-C): nothing to log
        return 0
    record = RunRecord.model_validate_json(line)
    say(_answer(lambda: Reply(run_id=_log_run(opening.mlflow, record))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
