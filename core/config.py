"""The one settings object. Built once at the edge (CLI, worker, API) and passed down."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.errors import ConfigError, InputError, describe


class DataSettings(BaseModel, frozen=True):
    """Where prices come from and how they are cleaned."""

    dir: Path = Field(Path(".tickcast"), description="Local state: MLflow store, caches.")
    default_source: str = Field("yahoo", description="yahoo, csv:PATH or synthetic.")
    default_tickers: tuple[str, ...] = ("CMIG4.SA",)
    close_column: Literal["auto", "close", "adj_close"] = Field(
        "auto", description="auto uses Adj Close when a CSV has it, else Close."
    )
    drop_filler_rows: bool = Field(True, description="Drop Yahoo holiday rows (O=H=L=C, V=0).")
    csv_dayfirst: bool | None = Field(
        None,
        description="CSV dates with the year last (03/02/2024): true reads DD/MM/YYYY, false "
        "MM/DD/YYYY, unset refuses them. ISO YYYY-MM-DD is always read. ?dayfirst= overrides.",
    )
    csv_decimal: Literal[".", ","] = Field(
        ".", description="Decimal mark of CSV numbers. ?decimal= overrides."
    )
    csv_sep: Literal[",", ";", "tab"] = Field(
        ",", description="CSV field separator. ?sep= overrides."
    )
    yahoo_timeout_s: float = 15.0
    yahoo_cache_ttl_h: float = Field(12.0, description="Cache life for ranges reaching today.")
    baseline_history: int = Field(
        750,
        ge=260,
        description="Sessions loaded before a report's first day: the interval baselines fit "
        "on them (GARCH needs 250 returns).",
    )
    synthetic_seed: int = 7
    synthetic_start: str = "2018-01-02"
    synthetic_end: str = "2024-12-30"

    @property
    def cache_dir(self) -> Path:
        return self.dir / "cache"


class Hyperparameters(BaseModel, frozen=True):
    """Hyperparameters of a training run: declared here once for settings, /train and training."""

    window: int = Field(60, ge=10, le=500, description="Closes per input window.")
    hidden_size: int = Field(32, ge=4, le=512, description="LSTM hidden units.")
    num_layers: int = Field(1, ge=1, le=4, description="Stacked LSTM layers.")
    dropout: float = Field(
        0.0, ge=0.0, lt=1.0, description="Dropout between layers and before the head."
    )
    learning_rate: float = Field(1e-3, gt=0.0, le=1.0, description="AdamW learning rate.")
    weight_decay: float = Field(1e-4, ge=0.0, le=1.0, description="AdamW weight decay.")
    batch_size: int = Field(64, ge=1, le=4096, description="Windows per training step.")
    max_epochs: int = Field(40, ge=1, le=1000, description="Most passes over the training set.")
    patience: int = Field(
        6, ge=1, le=100, description="Epochs without validation improvement before stopping."
    )
    seed: int = Field(42, description="Seeds weights, shuffling and dropout.")
    train_fraction: float = Field(
        0.70, gt=0.0, lt=1.0, description="Share of each ticker's windows that trains."
    )
    valid_fraction: float = Field(
        0.15, gt=0.0, lt=1.0, description="Share that validates; the rest tests."
    )
    head: Literal["student_t", "quantile"] = Field(
        "quantile",
        description="How the next return's distribution is trained: five quantiles with the "
        "pinball loss, or a Student-t likelihood (README, 'Choosing the head').",
    )
    close_only_share: float = Field(
        0.2, ge=0.0, le=1.0, description="Training windows read without open, high and low."
    )

    @model_validator(mode="after")
    def _fractions_leave_a_test_split(self) -> Hyperparameters:
        if self.train_fraction + self.valid_fraction >= 1.0:
            raise ValueError("train_fraction + valid_fraction must leave room for a test split")
        return self

    def with_overrides(self, overrides: Mapping[str, Any]) -> Hyperparameters:
        """These values with `overrides` (None means keep), validated as a whole."""
        values = {**self.model_dump(), **{k: v for k, v in overrides.items() if v is not None}}
        try:
            return Hyperparameters.model_validate(values)
        except ValidationError as exc:
            raise InputError(f"hyperparameters: {describe(exc.errors())}") from exc


class DriftSettings(BaseModel, frozen=True):
    """Thresholds of the drift statistics; see model/drift.py for why these values."""

    ks_alpha: float = Field(0.05, gt=0.0, lt=1.0)
    vol_ratio_low: float = Field(0.5, gt=0.0)
    vol_ratio_high: float = Field(2.0, gt=1.0)
    mean_z: float = Field(3.0, gt=0.0)
    # On 200 seeded regime changes (calm, 80 closes at 4x volatility, calm), 2 and 20 give
    # exactly one entered and one recovered alert in 94% of them; 1 and 5 in 73%
    # (`make bench-drift`).
    enter_after: int = Field(2, ge=1, description="Drifted windows in a row that raise an alert.")
    recover_after: int = Field(20, ge=1, description="Calm windows in a row that end drift.")


class PerformanceSettings(BaseModel, frozen=True):
    """When a model stops earning its place: alerts on its scored forecasts, per ticker."""

    sessions: int = Field(60, ge=10, le=1000, description="Scored sessions each test reads.")
    skill_p: float = Field(
        0.05,
        gt=0.0,
        lt=0.5,
        description="One-sided Diebold-Mariano p below which it is worse (under 0.5: at 0.5 "
        "and above, a model no worse than naive would count as worse).",
    )
    coverage_confidence: float = Field(
        0.95, gt=0.0, lt=1.0, description="Binomial band the 80% coverage must stay inside."
    )
    # The rolling statistics move one session at a time, so 3 in a row already means a lasting
    # change, and 10 calm ones keep a test that wavers at its threshold from re-alerting.
    enter_after: int = Field(3, ge=1, description="Failing sessions in a row that alert.")
    recover_after: int = Field(10, ge=1, description="Passing sessions in a row that recover.")


class MlflowSettings(BaseModel, frozen=True):
    tracking_uri: str = Field("", description="Empty: MLFLOW_TRACKING_URI, else sqlite in dir.")
    artifact_location: str = Field("", description="Empty: an artifacts folder beside the db.")
    experiment: str = "tickcast"
    model_name: str = "tickcast-lstm"
    champion_alias: str = "champion"
    synthetic_alias: str = Field(
        "synthetic", description="Where models trained on synthetic prices go: never champion."
    )
    serve: str = Field(
        "", description="Alias or version the worker and API serve; empty: the champion alias."
    )
    start_choice: str = Field(
        "",
        description="A file `up` writes once it has chosen the model (its alias and version): "
        "a worker or API given one starts at once, waits for the file, and loads that version "
        "from the local model cache without reading the registry; only at start. Empty: read "
        "the registry at start.",
    )

    @property
    def served(self) -> str:
        """The alias or version number served."""
        return self.serve or self.champion_alias


class KafkaSettings(BaseModel, frozen=True):
    """The bus. Empty bootstrap_servers means the embedded broker (Tansu) on 127.0.0.1."""

    bootstrap_servers: str = Field("", description="host:port[,host:port]; empty: embedded.")
    embedded_port: int = Field(0, ge=0, le=65535, description="0: a free port.")
    app_id: str = Field("tickcast", description="Faust app id: consumer group and table prefix.")
    topic_prefix: str = Field("", description="Prepended to every topic, e.g. for backtests.")
    partitions: int = Field(6, ge=1, le=256)
    processing_guarantee: Literal["at_least_once", "exactly_once"] = Field(
        "at_least_once",
        description="exactly_once needs a broker with transactions (Apache Kafka); the "
        "embedded broker has none, so outputs may repeat after a crash: drop them by id.",
    )
    prices_topic: str = "prices"
    forecasts_topic: str = "forecasts"
    drift_alerts_topic: str = "drift-alerts"
    scores_topic: str = "forecast-scores"
    dlq_topic: str = "prices.dlq"
    model_events_topic: str = "model-events"
    batch_size: int = Field(500, ge=1, le=10_000, description="Most closes per inference batch.")
    batch_window_ms: int = Field(20, ge=0, le=5_000, description="Longest wait to fill a batch.")
    producer_batch_kb: int = Field(
        256,
        ge=16,
        le=1000,
        description="Most bytes (KB) the worker's producer puts in one record batch per "
        "partition. Kafka's 16 KB default held eleven forecasts (1.4 KB each), so a "
        "micro-batch's sends waited for the broker every twelfth message. Keep it under "
        "the broker's message.max.bytes (1 MB by default).",
    )
    metrics_port: int | Literal["auto"] = Field(
        9108, description="Prometheus port; auto: a free one, logged; 0 disables."
    )
    metrics_host: str = Field("127.0.0.1", description="0.0.0.0 lets Prometheus scrape it.")
    fetch_max_wait_ms: int = Field(
        50, ge=1, le=5_000, description="Longest a fetch waits for data; bounds idle latency."
    )
    commit_interval_s: float = Field(
        2.8,
        gt=0.0,
        le=3600.0,
        description="How often the worker commits its consumer offsets: after a crash, Kafka "
        "redelivers what came after the last commit (the table skips it as redelivered).",
    )
    outage_log_every_s: float = Field(
        30.0,
        gt=0.0,
        description="While the broker is away, the worker says so once and then once per this "
        "many seconds, instead of the Kafka client's line every few milliseconds.",
    )
    session_timeout_s: float = Field(
        10.0,
        gt=0,
        description="A dead worker's partitions move after this. Unset, a worker on the "
        "embedded broker takes embedded_session_timeout_s instead.",
    )
    embedded_session_timeout_s: float = Field(
        2.0,
        gt=0,
        description="session_timeout_s of every worker on the embedded broker (known by the "
        "cluster id it reports) unless session_timeout_s is set: Tansu holds a group join "
        "for half the session timeout, which every worker start waits, and a SIGKILLed "
        "worker's replacement joins again once the old session ends (Apache Kafka refuses "
        "timeouts under 6 s by default, hence two settings).",
    )
    rebalance_timeout_s: float = Field(
        10.0, gt=0, description="Longest wait for a group to (re)form."
    )
    connect_timeout_s: float = Field(
        10.0,
        gt=0,
        le=300,
        description="Longest a command waits at start-up for the broker to answer before it "
        "gives up with one line naming the address.",
    )

    table_store: Literal["rocksdb", "memory"] = Field(
        "rocksdb",
        description="Where the worker keeps its per-ticker table: rocksdb, on disk under "
        "data.dir, so a restarted worker reads only the changelog written since; memory, "
        "which reads the whole changelog at every start.",
    )
    table_memory_mb: int = Field(
        8,
        ge=1,
        le=4096,
        description="RocksDB write buffer, and again block cache, per table partition (MB).",
    )
    closes_kept: int = Field(
        60,
        ge=2,
        le=5_000,
        description="Closes the worker keeps per ticker (at least the serving model's window); "
        "a hot swap to a model that needs more is refused.",
    )

    @field_validator("metrics_port", mode="before")
    @classmethod
    def _port_or_auto(cls, value: object) -> int | str:
        """One message listing what is allowed, rather than one per member of the union."""
        text = str(value).strip().lower()
        if text == "auto":
            return "auto"
        if isinstance(value, bool) or not text.isdigit() or int(text) > 65535:
            raise ValueError(
                f"got {value!r}: give a port 1-65535, auto to pick a free one, or 0 to turn "
                "metrics off"
            )
        return int(text)

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    @property
    def topics(self) -> dict[str, str]:
        """Logical name -> actual topic, prefix included."""
        return {
            "prices": self.topic(self.prices_topic),
            "forecasts": self.topic(self.forecasts_topic),
            "drift_alerts": self.topic(self.drift_alerts_topic),
            "scores": self.topic(self.scores_topic),
            "dlq": self.topic(self.dlq_topic),
            "model_events": self.topic(self.model_events_topic),
        }


class ApiSettings(BaseModel, frozen=True):
    """The HTTP sidecar. Mutating endpoints need `token`; without one they answer 403."""

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535, description="0: a free port, printed at start.")
    token: SecretStr | None = Field(None, description="Bearer token for /train, POST /config...")
    max_body_bytes: int = Field(1 << 20, ge=1024, description="Larger request bodies get 413.")
    max_batch: int = Field(
        1000,
        ge=1,
        le=100_000,
        description="Windows per /predict/batch and per pass of coalesced /predict calls.",
    )
    train_data_dir: Path | None = Field(
        None,
        description="The only folder POST /train may read csv: sources from; None allows only "
        "yahoo and synthetic. `tickcast up --source csv:DIR` sets it to DIR.",
    )
    max_train_bytes: int = Field(
        32 << 20, ge=1024, description="Most bytes of CSV one POST /train job may read."
    )
    training_nice: int = Field(
        10,
        ge=0,
        le=19,
        description="Niceness of a training job's process: serving comes first. 0 runs it "
        "beside the API at an equal share of the CPU.",
    )
    feed_check_s: float = Field(
        5.0,
        gt=0,
        le=300,
        description="How often the API's bus feed checks the broker answers, and how long it "
        "waits before reconnecting.",
    )


class ForecastSettings(BaseModel, frozen=True):
    """What every forecast path (worker, engines, API) checks and computes the same way."""

    min_price: float = Field(
        1e-4, gt=0, description="Prices below this are rejected as nonsense (stream and API)."
    )
    max_price: float = Field(
        1e7, gt=0, description="Prices above this are rejected as nonsense (stream and API)."
    )
    ticker_pattern: str = Field(
        r"^[A-Z0-9^.=-]{1,16}$",
        description="Tickers on the stream must match this regular expression.",
    )
    future_dates: bool = Field(
        False,
        description="Accept closes dated after the next B3 trading day by the wall clock "
        "(replays of invented future dates in tests); otherwise they are dead-lettered.",
    )
    extra_levels: tuple[float, ...] = Field(
        (),
        description="Quantile levels besides 0.025, 0.1, 0.5, 0.9 and 0.975, e.g. [0.05, 0.95].",
    )
    aci_gamma: float = Field(
        0.005,
        gt=0.0,
        lt=0.5,
        description="Step of adaptive conformal inference in the stream: how fast each "
        "ticker's interval coverages correct their misses.",
    )
    scoring: bool = Field(
        True, description="Score each forecast when its close arrives (forecast-scores)."
    )

    @model_validator(mode="after")
    def _levels_inside_zero_one(self) -> ForecastSettings:
        if any(not 0.0 < level < 1.0 for level in self.extra_levels):
            raise ValueError("extra_levels must lie strictly between 0 and 1")
        if not self.min_price < self.max_price:
            raise ValueError("min_price must be below max_price")
        try:
            re.compile(self.ticker_pattern)
        except re.error as exc:
            raise ValueError(f"ticker_pattern is not a regular expression: {exc}") from exc
        return self


class BacktestSettings(BaseModel, frozen=True):
    """`tickcast backtest`: what it draws, and how its stream engine knows the run is over."""

    max_plots: int = Field(
        20,
        ge=0,
        description="Per-ticker PNGs are drawn by default for at most this many tickers "
        "(each costs about 0.4 s); --plots draws them for any number, --no-plots never.",
    )
    max_table_tickers: int = Field(
        20,
        ge=0,
        description="Tickers listed one by one in the table the command prints; above it, "
        "only the overall figures (report.md, report.json and --json hold every ticker: a "
        "thousand tickers' rows took seconds to draw in a terminal nobody scrolls).",
    )
    stream_settle_s: float = Field(
        0.5,
        gt=0,
        le=30,
        description="--engine stream: once every forecast is back, the silence that ends "
        "the wait for the last scores and alerts, which the worker sends with them.",
    )
    fit_processes: int = Field(
        2,
        ge=1,
        le=64,
        description="Processes that fit the GARCH baselines not yet on disk when there are "
        "many (tens of ms each); 1 fits them in the backtest's own process.",
    )
    replay_processes: int = Field(
        2,
        ge=1,
        le=64,
        description="--engine local: processes that share a long replay's tickers (the "
        "backtest's own and forked children); 1 replays in the backtest's own process.",
    )
    split_min_closes: int = Field(
        20_000,
        ge=1,
        description="--engine local: the fewest closes a replay shares among "
        "replay_processes. Sharing gained a quarter at 19,904 closes (4.35 -> 3.26 s) but "
        "under a tenth at 4,976 (0.94 -> 0.86 s), too little for a second process's memory.",
    )


class Settings(BaseSettings):
    """tickcast settings. Env: TICKCAST_<SECTION>__<FIELD>, e.g. TICKCAST_MODEL__HIDDEN_SIZE."""

    model_config = SettingsConfigDict(
        env_prefix="TICKCAST_", env_nested_delimiter="__", frozen=True, extra="ignore"
    )

    data: DataSettings = DataSettings()
    model: Hyperparameters = Hyperparameters()
    forecast: ForecastSettings = ForecastSettings()
    drift: DriftSettings = DriftSettings()
    performance: PerformanceSettings = PerformanceSettings()
    mlflow: MlflowSettings = MlflowSettings()
    kafka: KafkaSettings = KafkaSettings()
    api: ApiSettings = ApiSettings()
    backtest: BacktestSettings = BacktestSettings()

    @model_validator(mode="after")
    def _resolve_mlflow(self) -> Settings:
        """MLFLOW_TRACKING_URI and KAFKA_BOOTSTRAP_SERVERS fill what TICKCAST_ leaves empty.

        Without either, MLflow is a sqlite file under data.dir and Kafka the embedded broker.
        """
        uri = self.mlflow.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI", "")
        root = self.data.dir.resolve()
        if not uri:
            uri = f"sqlite:///{root / 'mlflow.db'}"
        artifacts = self.mlflow.artifact_location
        if not artifacts and uri.startswith("sqlite:///"):
            artifacts = (Path(uri.removeprefix("sqlite:///")).parent / "mlartifacts").as_uri()
        mlflow = self.mlflow.model_copy(
            update={"tracking_uri": uri, "artifact_location": artifacts}
        )
        object.__setattr__(self, "mlflow", mlflow)
        servers = self.kafka.bootstrap_servers or os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "")
        kafka = self.kafka.model_copy(update={"bootstrap_servers": servers})
        object.__setattr__(self, "kafka", kafka)
        return self

    def with_kafka(self, **changes: Any) -> Settings:
        """A copy with other Kafka settings, e.g. the embedded broker's address."""
        return self.model_copy(update={"kafka": self.kafka.model_copy(update=changes)})


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings from the environment, built once per process."""
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(f"invalid TICKCAST_ settings: {describe(exc.errors())}") from exc
