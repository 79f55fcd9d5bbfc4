"""Settings, read once into a frozen object.

Sources, highest priority first: keyword arguments, ``FLYWHEEL_*`` environment variables, the TOML
file named by ``FLYWHEEL_CONFIG`` (or ``./flywheel.toml`` when present), then the defaults below.
Call :func:`load_settings` at the edge of the program (the CLI, a test fixture) and pass the object
down; nothing in the package reads the environment on its own.

Kafka access: ``kafka_security_protocol`` defaults to SASL_PLAINTEXT for the local broker (which
always authenticates with SCRAM-SHA-512), and for an existing cluster to SASL_SSL when credentials
are configured, PLAINTEXT otherwise. Credentials are either ``kafka_username`` and
``kafka_password`` or, per role, a file in ``kafka_credentials_dir`` (for the local broker
``<state_dir>/kafka/credentials``, written by the broker's set-up) chosen by ``kafka_role``
(default ``admin``); explicit ones win. They are read when a client is built
(:mod:`alignment_flywheel.kafka.credentials`), never printed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from alignment_flywheel.errors import ConfigError

ENV_PREFIX = "FLYWHEEL_"
CONFIG_FILE_ENV = "FLYWHEEL_CONFIG"
DEFAULT_CONFIG_FILE = Path("flywheel.toml")
DEFAULT_KAFKA_ROLE = "admin"
LOCAL_SECURITY_PROTOCOL = "SASL_PLAINTEXT"
LOCAL_SASL_MECHANISM = "SCRAM-SHA-512"
SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]


def _default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "alignment-flywheel"


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "alignment-flywheel"


class Settings(BaseSettings):
    """Every setting of the platform. Frozen: build a new one instead of changing it."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="forbid")

    bootstrap_servers: str = Field(
        default="",
        description="Kafka bootstrap servers. Empty means: start and use the local broker.",
    )
    kafka_security_protocol: SecurityProtocol | None = Field(
        default=None,
        description="How clients connect to Kafka. None: SASL_PLAINTEXT for the local broker; for "
        "an existing cluster SASL_SSL with credentials, else PLAINTEXT.",
    )
    kafka_sasl_mechanism: SaslMechanism = Field(
        default="SCRAM-SHA-512", description="The SASL mechanism (the local broker: SCRAM-SHA-512)."
    )
    kafka_username: str | None = Field(
        default=None, description="The SASL user; with kafka_password, wins over a role's file."
    )
    kafka_password: SecretStr | None = Field(default=None, description="The SASL password.")
    kafka_credentials_dir: Path | None = Field(
        default=None,
        description="A directory of per-role credential files (<role>.json: username, password). "
        "None: <state_dir>/kafka/credentials for the local broker, none for a cluster.",
    )
    kafka_role: str | None = Field(
        default=None,
        description="Whose credential file in kafka_credentials_dir to use. None: admin.",
        pattern=r"^[a-z][a-z0-9-]*$",
    )
    kafka_ssl_ca_location: Path | None = Field(
        default=None, description="CA certificate(s) to verify the brokers with, for SSL/SASL_SSL."
    )
    clickhouse_url: str = Field(
        default="",
        description="ClickHouse URL: chdb:///path (embedded) or http(s)://host:port. "
        "Empty means chdb://<state_dir>/clickhouse.",
    )
    state_dir: Path = Field(default_factory=_default_state_dir)
    cache_dir: Path = Field(
        default_factory=_default_cache_dir,
        description="Where downloaded broker artifacts are kept (outside the repository).",
    )
    schema_registry_url: str | None = Field(
        default=None,
        description="Confluent Schema Registry URL. When set, events use registry framing.",
    )
    replication_factor: int | None = Field(
        default=None,
        ge=1,
        description="Replicas of every topic the platform creates (catalog topics without their "
        "own, faust changelog and repartition topics). None: min(brokers, 3).",
    )
    min_insync_replicas: int | None = Field(
        default=None,
        ge=1,
        description="min.insync.replicas of those topics (never above a topic's replication "
        "factor). None: replication factor - 1 from three replicas, else 1.",
    )
    local_broker_port: int = Field(default=19092, ge=1, le=65535)
    local_controller_port: int = Field(default=19093, ge=1, le=65535)
    local_broker_heap_mb: int = Field(default=512, ge=128)
    max_event_bytes: int = Field(
        default=1_000_000, ge=1024, description="Larger events are rejected and dead-lettered."
    )
    max_dead_letter_bytes: int = Field(
        default=8_000_000,
        ge=1024,
        description="Limit for DeadLettered events, which carry the original bytes of a rejected "
        "record; keep it under the dead-letter topic's max.message.bytes.",
    )
    oracle_path: Path | None = Field(
        default=None,
        description="The oracle artifact (YAML) to start from. None: policies/oracle.yaml.",
    )
    risk_policy_path: Path | None = Field(
        default=None,
        description="The enforcement risk policy (YAML). None: policies/risk-policy.yaml.",
    )
    trust_root_path: Path | None = Field(
        default=None,
        description="The signed trust root file to bootstrap from. "
        "None: <state_dir>/trust/root.json.",
    )
    keys_dir: Path | None = Field(
        default=None, description="Where named signing keys are kept. None: <state_dir>/keys."
    )
    review_timeout_s: float = Field(
        default=300.0, gt=0, description="How long an escalated SDK call waits for a human."
    )
    deny_on_review_timeout: bool = Field(
        default=True, description="A review that times out denies the action (fail closed)."
    )
    sdk_buffer_size: int = Field(
        default=10_000,
        ge=1,
        description="Decision records the SDK keeps in memory before spilling to its journal.",
    )
    http_host: str = Field(default="127.0.0.1", description="Address of the HTTP ingest endpoint.")
    http_port: int = Field(default=8787, ge=0, le=65535)
    identity: str = Field(
        default_factory=lambda: f"{os.uname().nodename}/{os.getpid()}",
        description="Producer identity written into every event envelope.",
    )
    deployment: Literal["development", "production"] = Field(
        default="development",
        description="production refuses development conveniences (the auto-approver) unless "
        "they are enabled explicitly.",
    )
    auto_approve_keys: tuple[str, ...] = Field(
        default=(),
        description="Named keys (in keys_dir) the auto-approver signs with, as approvers; its "
        "approvals are marked automatic. Empty: no auto-approver. For CI and demos.",
    )
    author_key: str | None = Field(
        default=None,
        description="Named key (in keys_dir) refinement signs its patches with, as author.",
    )
    allow_auto_approve_in_production: bool = Field(
        default=False, description="Explicitly enable the auto-approver in production."
    )
    http_tokens_path: Path | None = Field(
        default=None,
        description="The API tokens of the HTTP ingest endpoint (flywheel tokens). "
        "None: <state_dir>/http/tokens.json.",
    )
    http_insecure_no_auth: bool = Field(
        default=False,
        description="Serve the HTTP ingest endpoint without API tokens (development only; "
        "refused in production).",
    )
    http_rate_per_s: float = Field(
        default=50.0, gt=0, description="Ingest requests per second allowed to each API token."
    )
    http_rate_burst: int = Field(
        default=100, ge=1, description="Ingest requests an API token may make at once."
    )
    worker_session_timeout_s: float | None = Field(
        default=None,
        gt=0,
        description="How long a silent worker keeps its partitions before its group gives them "
        "to another (the Kafka session timeout). None: faust's default.",
    )
    worker_heartbeat_interval_s: float | None = Field(
        default=None, gt=0, description="How often a worker heartbeats. None: faust's default."
    )
    worker_rebalance_timeout_s: float | None = Field(
        default=None,
        gt=0,
        description="How long a rebalance waits for members to rejoin. None: faust's default.",
    )

    @model_validator(mode="after")
    def _no_silent_auto_approval(self) -> Settings:
        if (
            self.auto_approve_keys
            and self.deployment == "production"
            and not self.allow_auto_approve_in_production
        ):
            raise ValueError(
                "auto_approve_keys is refused in production unless "
                "allow_auto_approve_in_production is set"
            )
        return self

    @model_validator(mode="after")
    def _no_unauthenticated_production(self) -> Settings:
        if self.http_insecure_no_auth and self.deployment == "production":
            raise ValueError("http_insecure_no_auth is refused in production")
        return self

    @model_validator(mode="after")
    def _min_insync_is_reachable(self) -> Settings:
        factor, min_insync = self.replication_factor, self.min_insync_replicas
        if factor is not None and min_insync is not None and min_insync > factor:
            raise ValueError(
                f"min_insync_replicas ({min_insync}) exceeds replication_factor ({factor}): "
                "no write could ever be acknowledged"
            )
        return self

    @model_validator(mode="after")
    def _kafka_credentials_are_complete(self) -> Settings:
        if (self.kafka_username is None) != (self.kafka_password is None):
            raise ValueError("kafka_username and kafka_password are set together or not at all")
        if self.uses_local_broker and (
            self.effective_kafka_security_protocol != LOCAL_SECURITY_PROTOCOL
            or self.kafka_sasl_mechanism != LOCAL_SASL_MECHANISM
        ):
            raise ValueError(
                f"the local broker accepts {LOCAL_SECURITY_PROTOCOL} with {LOCAL_SASL_MECHANISM} "
                "only (kafka_security_protocol, kafka_sasl_mechanism)"
            )
        return self

    @field_validator(
        "kafka_security_protocol",
        "kafka_username",
        "kafka_password",
        "kafka_credentials_dir",
        "kafka_role",
        "kafka_ssl_ca_location",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """An empty value (``FLYWHEEL_KAFKA_USERNAME=``) unsets: how a child process is told to
        use a role's file instead of credentials it would inherit."""
        return None if value == "" else value

    @field_validator("clickhouse_url")
    @classmethod
    def _check_clickhouse_url(cls, value: str) -> str:
        if value and not value.startswith(("chdb://", "http://", "https://")):
            raise ValueError("must start with chdb://, http:// or https://")
        return value

    @property
    def uses_local_broker(self) -> bool:
        return not self.bootstrap_servers.strip()

    @property
    def effective_bootstrap_servers(self) -> str:
        if self.uses_local_broker:
            return f"127.0.0.1:{self.local_broker_port}"
        return self.bootstrap_servers

    @property
    def effective_kafka_security_protocol(self) -> str:
        if self.kafka_security_protocol is not None:
            return self.kafka_security_protocol
        if self.uses_local_broker:
            return LOCAL_SECURITY_PROTOCOL
        has_credentials = self.kafka_username is not None or self.kafka_credentials_dir is not None
        return "SASL_SSL" if has_credentials else "PLAINTEXT"

    @property
    def uses_sasl(self) -> bool:
        return self.effective_kafka_security_protocol.startswith("SASL_")

    @property
    def effective_kafka_credentials_dir(self) -> Path | None:
        if self.kafka_credentials_dir is not None:
            return self.kafka_credentials_dir
        if self.uses_local_broker:
            return self.state_dir.resolve() / "kafka" / "credentials"
        return None

    @property
    def effective_kafka_role(self) -> str:
        return self.kafka_role or DEFAULT_KAFKA_ROLE

    @property
    def journal_dir(self) -> Path:
        """Where the SDK spills decision records it could not yet publish."""
        return self.state_dir / "journal"

    @property
    def effective_trust_root_path(self) -> Path:
        return self.trust_root_path or self.state_dir / "trust" / "root.json"

    @property
    def effective_keys_dir(self) -> Path:
        return self.keys_dir or self.state_dir / "keys"

    @property
    def effective_http_tokens_path(self) -> Path:
        return self.http_tokens_path or self.state_dir / "http" / "tokens.json"

    @property
    def effective_clickhouse_url(self) -> str:
        return self.clickhouse_url or f"chdb://{(self.state_dir / 'clickhouse').resolve()}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_file = _config_file()
        if toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)


def _config_file() -> Path | None:
    named = os.environ.get(CONFIG_FILE_ENV)
    if named:
        path = Path(named)
        if not path.is_file():
            raise ConfigError(f"{CONFIG_FILE_ENV} names {path}, which is not a file")
        return path
    return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.is_file() else None


def load_settings(**overrides: Any) -> Settings:
    """Read the settings once. Raises :class:`ConfigError` naming every invalid value."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from exc
