"""Registered models in a local cache, fetched from MLflow by a short-lived child process.

Serving processes (the worker, the API) read their model from this cache and never import
MLflow, whose client costs about 1.3 s and 170 MB to import. `python -m model.fetch` reads
the registry: it resolves an alias or version, copies that version into the cache unless it
is there already (from the same run: a store made anew reuses version numbers), records what
the registry says of it, and prints the folder. A process that has MLflow loaded anyway (the
CLI's train and `up`) fetches in process instead; `backtest` and `evaluate` fetch in their
MLflow child (`model.tracking`).

The cache is one folder per tracking store under the data dir, one per version inside, each
written whole before it is renamed into place, so a reader never sees half a model. Beside
them, `refs/` records which version each alias or version named at the last read, with the
sqlite store file's stamp: while the file is unchanged, that answer stands without the child
(`unchanged`), and `up`, `evaluate` and `backtest` start on it too.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, Field, ValidationError

from core.config import MlflowSettings, Settings
from core.errors import TickcastError
from core.files import write_atomically
from model.errors import ModelError, ModelNotFoundError
from model.tracking_start import child_env
from schemas.messages import TrainedOn

logger = logging.getLogger(__name__)

BUNDLE, RECORD = "bundle", "record.json"


class ModelFetchError(ModelError):
    """The registry could not be read, or the fetching process failed."""


class ModelRecord(BaseModel):
    """What the registry says of a version, kept beside its bundle in the cache."""

    version: str
    run_id: str | None = None
    params: dict[str, str] = Field(default_factory=dict)
    metrics: dict[str, float] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    aliases: list[str] = Field(default_factory=list)
    trained_at: datetime | None = None
    trained_on: TrainedOn | None = None


class FetchRequest(BaseModel):
    """What the child is asked, on its stdin: the registry, the cache, the alias or version."""

    mlflow: MlflowSettings
    cache: Path
    ref: str
    verbose: bool = False


class FetchReply(BaseModel):
    """The child's one line on stdout: the version's folder, or why there is none."""

    folder: Path | None = None
    error: str = ""
    not_found: bool = False


class StartChoice(BaseModel):
    """What `up` chose for its worker and API to start on (`mlflow.start_choice`)."""

    ref: str
    version: str


CHOICE_POLL_S = 0.05  # how often a waiting process looks for `up`'s choice
_started: set[str] = set()  # the choice files this process has started on (once each)


def write_choice(path: Path, choice: StartChoice) -> None:
    """Written whole: a waiting process reads it whole."""
    write_atomically(path, choice.model_dump_json())


def chosen_at_start(settings: Settings, ref: str) -> Path | None:
    """The cached folder `up` chose for this process's first load of the served `ref`,
    waiting for `up` to choose it (it may be training); None when no choice applies: no
    file configured, another ref, a later load, or a choice of another ref."""
    name = settings.mlflow.start_choice
    if not name or ref != settings.mlflow.served or name in _started:
        return None
    _started.add(name)
    path = Path(name)
    if not path.is_file():
        logger.info("waiting for `up` to choose the model (%s)", path)
    while not path.is_file():
        time.sleep(CHOICE_POLL_S)
    choice = StartChoice.model_validate_json(path.read_text())
    if choice.ref != ref:
        return None
    return cached(cache_root(settings), choice.version)


def cache_root(settings: Settings) -> Path:
    """This store's folder of the cache: two stores never share a version number's folder."""
    store = hashlib.sha256(settings.mlflow.tracking_uri.encode()).hexdigest()[:16]
    return settings.data.dir.resolve() / "models" / store / settings.mlflow.model_name


def cached(cache: Path, version: str) -> Path | None:
    """The folder of `version` when the cache holds it whole, else None."""
    folder = cache / version
    return folder if (folder / RECORD).is_file() and (folder / BUNDLE).is_dir() else None


def read_record(folder: Path) -> ModelRecord:
    return ModelRecord.model_validate_json((folder / RECORD).read_text())


class Resolved(BaseModel):
    """Which version (and from which run) a ref named when the registry last answered, with
    the store file's stamp at that read when the stamp can vouch for it (see `_remember`)."""

    version: str
    run_id: str | None = None
    stamp: list[int] | None = None


SETTLED_NS = 1_000_000_000  # a store written less than this before a read is not vouched for
SETTLE_MARGIN_S = 0.1  # a read again waits this past SETTLED_NS, so that it sees a settled store
REFS = "refs"  # the cache's folder of Resolved records, one per alias or version
_REF_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def store_stamp(mlflow: MlflowSettings) -> list[int] | None:
    """The sqlite store's file, and its write-ahead log if any, as modification time and size;
    None for another kind of store, or none yet. Every write to the registry (a new version,
    a moved alias) changes it; reads never do."""
    uri = mlflow.tracking_uri
    if not uri.startswith("sqlite:///"):
        return None
    path = Path(uri.removeprefix("sqlite:///"))
    stamp: list[int] = []
    for part in (path, path.with_name(f"{path.name}-wal")):
        try:
            status = part.stat()
        except OSError:
            if part == path:
                return None
            stamp += [0, 0]
            continue
        stamp += [status.st_mtime_ns, status.st_size]
    return stamp


def _written_ns(stamp: list[int]) -> int:
    """When the store (its file or its write-ahead log) was last written."""
    return max(stamp[0], stamp[2])


def _resolved_path(cache: Path, ref: str) -> Path | None:
    return cache / REFS / f"{ref}.json" if _REF_NAME.fullmatch(ref) else None


def last_resolved(cache: Path, ref: str) -> Resolved | None:
    """What `ref` named when the registry last answered; None if unknown or unreadable."""
    path = _resolved_path(cache, ref)
    try:
        return None if path is None else Resolved.model_validate_json(path.read_text())
    except (OSError, ValidationError):
        return None


def unchanged(mlflow: MlflowSettings, cache: Path, ref: str) -> Path | None:
    """The cached folder of the version `ref` named when the registry was last read, if the
    store has not been written since (a sqlite store only): the registry would name the same
    version again. Saves a start the seconds of a child that imports MLflow."""
    resolved = last_resolved(cache, ref)
    if resolved is None or resolved.stamp is None or resolved.stamp != store_stamp(mlflow):
        return None
    return cached(cache, resolved.version)


def _remember(cache: Path, ref: str, folder: Path, stamp: list[int] | None, taken: int) -> None:
    """Record what `ref` named, with the store's stamp taken before the read: a write during
    the read changes the stamp for good, so the record never vouches for it. Nor for a store
    written just before the stamp was `taken`: a file's time moves in ticks of a few
    milliseconds, so a second write in the same tick could leave the stamp as it was.
    Written whole; a read-only cache still works, remembering nothing."""
    path = _resolved_path(cache, ref)
    if path is None:
        return
    if stamp is not None and taken - _written_ns(stamp) < SETTLED_NS:
        stamp = None
    resolved = Resolved(version=folder.name, run_id=read_record(folder).run_id, stamp=stamp)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, resolved.model_dump_json())
    except OSError as exc:
        logger.debug("could not remember %r: %s", ref, exc)


def fetch_in_process(mlflow: MlflowSettings, cache: Path, ref: str) -> Path:
    """Resolve `ref` in the registry and make sure the cache holds that version; its folder.

    Imports MLflow: the child's work, or that of a process which has it loaded anyway.
    """
    stamp, taken = store_stamp(mlflow), time.time_ns()  # before reading: see _remember
    folder = _fetch_in_process(mlflow, cache, ref)
    _remember(cache, ref, folder, stamp, taken)
    return folder


def remember_when_settled(settings: Settings, ref: str) -> threading.Timer | None:
    """Record what `ref` names, so that the next start skips the registry (`unchanged`): read
    now, or, when the store was written too recently for the record to vouch (`up` has just
    trained a model and moved the alias), once it has stood still for `SETTLED_NS`.

    For a process that has MLflow loaded anyway (`up`). The later read runs on a daemon
    timer, which a process ending first simply drops; returns it, or None when read now.
    """
    mlflow, cache = settings.mlflow, cache_root(settings)
    stamp = store_stamp(mlflow)
    wait_ns = 0 if stamp is None else _written_ns(stamp) + SETTLED_NS - time.time_ns()
    if wait_ns <= 0:
        fetch_in_process(mlflow, cache, ref)
        return None
    timer = threading.Timer(wait_ns / 1e9 + SETTLE_MARGIN_S, _read_again, (mlflow, cache, ref))
    timer.daemon = True
    timer.start()
    return timer


def _read_again(mlflow: MlflowSettings, cache: Path, ref: str) -> None:
    try:
        fetch_in_process(mlflow, cache, ref)
    except Exception as exc:  # only a saving for the next start: never this process's failure
        logger.debug("reading %r again for the next start failed: %s", ref, exc)


def _fetch_in_process(mlflow: MlflowSettings, cache: Path, ref: str) -> Path:
    from model import registry  # MLflow

    client = registry.connect(mlflow)
    version = registry.find_version(client, mlflow.model_name, ref)
    number = str(version.version)
    aliases = sorted(version.aliases or ())
    folder = cached(cache, number)
    if folder is not None:
        record = read_record(folder)
        if record.run_id == version.run_id:
            if record.aliases != aliases:  # aliases move; the model under them does not
                write_record(folder, record.model_copy(update={"aliases": aliases}))
            return folder
        logger.info("cached %s v%s came from another run: fetching it again", ref, number)
    fetched = registry.fetch(client, mlflow.model_name, number)
    record = ModelRecord(
        version=number,
        run_id=fetched.version.run_id,
        params=fetched.params,
        metrics=fetched.metrics,
        tags=fetched.tags,
        aliases=aliases,
        trained_at=fetched.trained_at,
        trained_on=fetched.trained_on,
    )
    cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{number}-", dir=cache))
    target = cache / number
    try:
        fetched.bundle.save(staging / BUNDLE)
        write_record(staging, record)
        peer = cached(cache, number)
        if peer is not None and read_record(peer).run_id == record.run_id:
            shutil.rmtree(staging, ignore_errors=True)  # another process was first
            return target
        if target.exists():  # a copy from another run of a store made anew
            shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if cached(cache, number) is None:
            raise
    return target


def write_record(folder: Path, record: ModelRecord) -> None:
    """Written whole: a reader sees the old record or the new one."""
    write_atomically(folder / RECORD, record.model_dump_json(indent=2))


def fetch_in_child(mlflow: MlflowSettings, cache: Path, ref: str) -> Path:
    """`fetch_in_process` in a short-lived `python -m model.fetch`, so this process never
    imports MLflow. Its log lines reach this process's stderr; errors come back as ours."""
    request = FetchRequest(
        mlflow=mlflow, cache=cache, ref=ref, verbose=logger.isEnabledFor(logging.INFO)
    )
    done = subprocess.run(
        [sys.executable, "-m", "model.fetch"],
        input=request.model_dump_json(),
        stdout=subprocess.PIPE,
        text=True,
        env=child_env(),
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    try:
        reply = FetchReply.model_validate_json(lines[-1]) if lines else None
    except ValidationError:
        reply = None
    if reply is None:
        raise ModelFetchError(
            f"fetching model {mlflow.model_name!r} {ref!r} failed (exit code {done.returncode})"
        )
    if reply.not_found:
        raise ModelNotFoundError(reply.error)
    if reply.error or reply.folder is None:
        raise ModelFetchError(reply.error or f"fetching {ref!r} gave no folder")
    return reply.folder


def fetch(settings: Settings, ref: str) -> Path:
    """The cached folder of the version `ref` names now: at once when the store has not
    changed since it was last read (`unchanged`); else fetched, in process when MLflow is
    already loaded here, else in a child process."""
    cache = cache_root(settings)
    folder = unchanged(settings.mlflow, cache, ref)
    if folder is not None:
        logger.debug(
            "%s is still v%s: the store has not changed since it was read", ref, folder.name
        )
        return folder
    fetcher = fetch_in_process if "mlflow" in sys.modules else fetch_in_child
    return fetcher(settings.mlflow, cache, ref)


R = TypeVar("R", bound=FetchReply)


def answered(step: Callable[[], R], what: str) -> R | FetchReply:
    """A child's reply to one step: the step's own, or its error as a reply the parent raises
    as its own error (the traceback of an unexpected one goes to stderr)."""
    try:
        return step()
    except ModelNotFoundError as exc:
        return FetchReply(error=str(exc), not_found=True)
    except TickcastError as exc:
        return FetchReply(error=str(exc))
    except Exception as exc:  # the parent names it in one line
        logger.exception("%s failed", what)
        return FetchReply(error=f"{what}: {type(exc).__name__}: {exc}")


def main() -> int:
    """The child: a FetchRequest on stdin, a FetchReply on stdout (nothing else goes there)."""
    from core.logs import setup_logging

    request = FetchRequest.model_validate_json(sys.stdin.read())
    setup_logging(request.verbose, registry=True)
    out, sys.stdout = sys.stdout, sys.stderr  # MLflow's own prints stay off the reply line
    try:
        reply = answered(
            lambda: FetchReply(folder=fetch_in_process(request.mlflow, request.cache, request.ref)),
            f"fetching {request.ref!r}",
        )
    finally:
        sys.stdout = out
    print(reply.model_dump_json(), flush=True)
    return 0 if reply.folder else 1


if __name__ == "__main__":
    sys.exit(main())
