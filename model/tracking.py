"""The MLflow side of `backtest` and `evaluate`, in a child process started before their own
imports.

Importing MLflow and opening its store take longer than one ticker's replay and
report. `python -m model.tracking` does both while the backtest loads pandas, SciPy and
ONNX Runtime on the other core; it then reads the registry for the model (into the local
model cache, `model.fetch`: the version the alias names now) and, at the end, logs the
backtest's run. One JSON line each way per step on stdin and stdout; the backtest itself
never imports MLflow.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import logging
import sys
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from core.config import MlflowSettings, Settings
from model import tracking_start
from model.errors import ModelError, ModelNotFoundError
from model.fetch import (
    FetchReply,
    FetchRequest,
    answered,
    cache_root,
    cached,
    fetch_in_process,
    last_resolved,
    read_record,
    unchanged,
)

logger = logging.getLogger(__name__)


class TrackingError(ModelError):
    """The MLflow child failed: the registry could not be read or the run not logged."""


class Opening(FetchRequest):
    """The first line: `model.fetch`'s request, whose model may be None (none to fetch)."""

    ref: str | None = None  # type: ignore[assignment]


class RunRecord(BaseModel):
    """The second line: what to log as the backtest's run."""

    experiment: str
    run_name: str
    tags: dict[str, str] = Field(default_factory=dict)
    params: dict[str, str] = Field(default_factory=dict)
    metrics: dict[str, float] = Field(default_factory=dict)
    files: list[Path] = Field(default_factory=list)


class Reply(FetchReply):
    """The child's line after each step: `model.fetch`'s reply, or the logged run's id."""

    run_id: str = ""


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
        self.settings = settings
        self.cache = cache_root(settings)
        self.ref: str | None = None
        self._folder: Path | None = None
        self._answered = False  # the child's answer to the opening has been read
        self.child = tracking_start.adopt()  # started first thing by the CLI, if it could
        self._open(ref)

    def _open(self, ref: str | None) -> None:
        """Which model to fetch (None: none; walk-forward trains its own)."""
        opening = Opening(
            mlflow=self.settings.mlflow,
            cache=self.cache,
            ref=ref,
            verbose=logger.isEnabledFor(logging.INFO),
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
        """The cached folder of the version `ref` names in the registry now (asked once): at
        once when the model cache vouches for it (the store unchanged since it was read,
        `model.fetch.unchanged`), else the child's answer."""
        if self._folder is None:
            vouched = unchanged(self.settings.mlflow, self.cache, self.ref) if self.ref else None
            self._folder = vouched or self._fetched()
        return self._folder

    def _fetched(self) -> Path:
        """The child's answer to the opening (once); the child remembers it (model.fetch)."""
        self._answered = True
        folder = self._reply(f"fetching {self.ref!r}").folder
        if folder is None:
            raise TrackingError(f"fetching {self.ref!r} gave no folder")
        return folder

    def guess(self) -> tuple[Path, str | None] | None:
        """The cached folder (and its run) that `ref` named when the registry last answered,
        to start on while the child imports MLflow and reads the registry; None when there
        is none to start on. What is computed on it must wait for `confirms` to be used."""
        if self.ref is None:
            return None
        answer = last_resolved(self.cache, self.ref)
        folder = None if answer is None else cached(self.cache, answer.version)
        if answer is None or folder is None:
            return None
        try:
            run_id = read_record(folder).run_id
        except (OSError, ValidationError):
            return None
        return (folder, run_id) if run_id == answer.run_id else None

    def confirms(self, folder: Path, run_id: str | None) -> bool:
        """Whether the registry names this folder's version, from that run, now."""
        if self.model_folder() != folder:
            return False
        try:
            return read_record(folder).run_id == run_id
        except (OSError, ValidationError):
            return False

    def log(self, record: RunRecord) -> str:
        """Log the run (its files must exist until this returns); its run id."""
        self._send(record)
        if self.ref is not None and not self._answered:
            self._fetched()  # its answer comes first, even if the cache vouched for it
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

    with (
        registry.experiment(mlflow_settings, record.experiment),
        mlflow.start_run(run_name=record.run_name, tags=record.tags) as run,
    ):
        mlflow.log_params(record.params)
        mlflow.log_metrics(record.metrics)  # finite: JSON carries no NaN
        for path in record.files:
            mlflow.log_artifact(str(path))
        return run.info.run_id


#: Mako's Pygments plugin, which the child does without (see `main`).
MAKO_PYGMENTS = "mako.ext.pygmentplugin"


def main() -> int:
    """The child: imports MLflow and opens the store at once, then answers each line."""
    # A process of a few seconds that mostly imports: the cyclic collector's passes over
    # MLflow's modules cost a sixth of their import, and what it would free is freed at exit.
    gc.disable()
    from core.logs import setup_logging

    out, sys.stdout = sys.stdout, sys.stderr  # MLflow's own prints stay off the reply lines

    def say(reply: FetchReply) -> None:
        print(reply.model_dump_json(), file=out, flush=True)

    # MLflow's SQL store imports alembic, whose templates (mako) colour their error pages with
    # Pygments when they can: about 0.15 s of this process's start, for pages it never shows.
    # Mako falls back to plain pages when the plugin cannot be imported.
    sys.modules.setdefault(MAKO_PYGMENTS, None)  # type: ignore[arg-type]
    importlib.import_module("mlflow")  # what overlaps the parent, before it says what to do
    line = sys.stdin.readline()
    if not line:  # the parent ended before it opened (an error, or Ctrl-C)
        return 0
    opening = Opening.model_validate_json(line)
    setup_logging(opening.verbose, registry=True)
    # Opening the store waits for the fetch or the log: a walk-forward backtest trains in the
    # parent, and two processes must not create a new store's tables at once.
    if opening.ref is not None:
        ref = opening.ref

        def fetched() -> Reply:
            return Reply(folder=fetch_in_process(opening.mlflow, opening.cache, ref))

        say(answered(fetched, f"fetching {ref!r}"))
    line = sys.stdin.readline()
    if not line:  # the backtest ended first (an error, or Ctrl-C): nothing to log
        return 0
    record = RunRecord.model_validate_json(line)
    say(answered(lambda: Reply(run_id=_log_run(opening.mlflow, record)), "logging the backtest"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
